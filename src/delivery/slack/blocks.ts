// Typed builders for the few Slack Block Kit blocks our messages use. Slack's
// limits are checked here, when the message is built, so a message that Slack
// would reject with `invalid_blocks` fails in our code with the reason instead.
// Lengths are counted in UTF-16 units, never fewer than Slack's characters.

export interface PlainText {
  type: 'plain_text';
  text: string;
}

export interface Mrkdwn {
  type: 'mrkdwn';
  text: string;
}

export interface HeaderBlock {
  type: 'header';
  text: PlainText;
}

export interface TextSectionBlock {
  type: 'section';
  text: Mrkdwn;
}

export interface FieldsSectionBlock {
  type: 'section';
  fields: Mrkdwn[];
}

export type SectionBlock = TextSectionBlock | FieldsSectionBlock;

export interface ContextBlock {
  type: 'context';
  elements: Mrkdwn[];
}

export interface DividerBlock {
  type: 'divider';
}

export type Block = HeaderBlock | SectionBlock | ContextBlock | DividerBlock;

/** The JSON body a Slack incoming webhook accepts. */
export interface SlackMessage {
  /** Shown in notifications and by clients that cannot render blocks. */
  text: string;
  blocks: Block[];
}

export interface SlackMessageOptions {
  /** Fallback text; required because notifications show nothing else. */
  text: string;
  /** @defaultValue [] */
  blocks?: Block[];
}

export const SLACK_LIMITS = {
  headerText: 150,
  sectionText: 3000,
  field: 2000,
  fields: 10,
  contextElements: 10,
  contextText: 3000,
  blocks: 50,
} as const;

export function header(text: string): HeaderBlock {
  return { type: 'header', text: { type: 'plain_text', text: checkText('header text', text, SLACK_LIMITS.headerText) } };
}

export function section(mrkdwn: string): TextSectionBlock {
  return { type: 'section', text: { type: 'mrkdwn', text: checkText('section text', mrkdwn, SLACK_LIMITS.sectionText) } };
}

/** A section laid out as a two-column grid of short mrkdwn fields. */
export function fields(...mrkdwn: string[]): FieldsSectionBlock {
  checkCount('section fields', mrkdwn.length, SLACK_LIMITS.fields);
  return { type: 'section', fields: mrkdwn.map((text, i) => ({ type: 'mrkdwn', text: checkText(`section field ${i + 1}`, text, SLACK_LIMITS.field) })) };
}

/** Small grey text under the message (sources, times, who sent it). */
export function context(...mrkdwn: string[]): ContextBlock {
  checkCount('context elements', mrkdwn.length, SLACK_LIMITS.contextElements);
  return { type: 'context', elements: mrkdwn.map((text, i) => ({ type: 'mrkdwn', text: checkText(`context element ${i + 1}`, text, SLACK_LIMITS.contextText) })) };
}

export function divider(): DividerBlock {
  return { type: 'divider' };
}

export function slackMessage(options: SlackMessageOptions): SlackMessage {
  const blocks = options.blocks ?? [];
  if (options.text.trim() === '') throw new RangeError('Slack message fallback text is empty; notifications would show nothing');
  if (blocks.length > SLACK_LIMITS.blocks) {
    throw new RangeError(`Slack message has ${blocks.length} blocks; the limit is ${SLACK_LIMITS.blocks}`);
  }
  return { text: options.text, blocks };
}

/**
 * Escapes the three characters Slack treats as control characters in text (`&`, `<`, `>`),
 * so data cannot open a link, mention (`<!channel>`) or entity. Markdown marks are left alone.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function checkText(what: string, text: string, max: number): string {
  if (text.length === 0) throw new RangeError(`Slack ${what} is empty; Slack rejects empty text`);
  if (text.length > max) throw new RangeError(`Slack ${what} is ${text.length} characters; the limit is ${max}`);
  return text;
}

function checkCount(what: string, count: number, max: number): void {
  if (count === 0) throw new RangeError(`Slack ${what}: at least 1 is required`);
  if (count > max) throw new RangeError(`Slack ${what}: ${count} given; the limit is ${max}`);
}
