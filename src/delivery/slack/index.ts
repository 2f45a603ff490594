// Slack messages: money and counts in the reader's locale, Block Kit builders
// that enforce Slack's limits, and the digest that folds a window of events.
export { formatMoney, formatCount, DEFAULT_LOCALE, type MoneyOptions } from './money.js';
export {
  header,
  section,
  fields,
  context,
  divider,
  slackMessage,
  escapeMrkdwn,
  SLACK_LIMITS,
  type Block,
  type HeaderBlock,
  type SectionBlock,
  type TextSectionBlock,
  type FieldsSectionBlock,
  type ContextBlock,
  type DividerBlock,
  type PlainText,
  type Mrkdwn,
  type SlackMessage,
  type SlackMessageOptions,
} from './blocks.js';
export {
  windowStart,
  windowOf,
  foldDigest,
  digestMessage,
  type TimeWindow,
  type DigestGroup,
  type DigestRow,
  type DigestLabels,
  type DigestMessageOptions,
} from './digest.js';
