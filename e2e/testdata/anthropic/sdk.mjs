// Drives the official @anthropic-ai/sdk npm package against agentgate,
// with only its base URL and key changed:
// node sdk.mjs <baseURL> <apiKey> <model> <image data URL>.
// Prints one JSON object with what each call returned; the Go test
// checks it.
import Anthropic from '@anthropic-ai/sdk';

const [baseURL, apiKey, model, image] = process.argv.slice(2);
const client = new Anthropic({ baseURL, apiKey, maxRetries: 0 });
const out = {};
const text = (m) => m.content.filter((c) => c.type === 'text').map((c) => c.text).join('');
const user = (content) => [{ role: 'user', content }];

const plain = await client.messages.create({ model, max_tokens: 256, messages: user('Weather in Paris?') });
out.create = { id: plain.id, type: plain.type, role: plain.role, model: plain.model, text: text(plain), stop: plain.stop_reason, usage: plain.usage };

const events = [];
let deltas = '';
const raw = await client.messages.create({ model, max_tokens: 256, messages: user('Stream it'), stream: true });
for await (const ev of raw) {
  events.push(ev.type);
  if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') deltas += ev.delta.text;
}
out.rawStream = { events, text: deltas };

const helper = client.messages.stream({ model, max_tokens: 256, messages: user('Stream it again') });
let helperText = '';
helper.on('text', (t) => { helperText += t; });
const final = await helper.finalMessage();
out.helper = { text: text(final), onText: helperText, stop: final.stop_reason, usage: final.usage };

const [mediaType, data] = image.slice('data:'.length).split(';base64,');
const pic = await client.messages.create({ model, max_tokens: 256, messages: user([
  { type: 'image', source: { type: 'base64', media_type: mediaType, data } },
  { type: 'text', text: 'What is in this picture?' },
]) });
out.image = { text: text(pic) };

const tools = [{ name: 'get_weather', description: 'Weather of a city',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
const call = await client.messages.stream({ model, max_tokens: 256, tools, messages: user('Weather in Paris?') }).finalMessage();
const use = call.content.find((c) => c.type === 'tool_use');
const answer = await client.messages.create({ model, max_tokens: 256, tools, messages: [
  ...user('Weather in Paris?'),
  { role: 'assistant', content: call.content },
  { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: '{"temp":21}' }] },
] });
out.tools = { stop: call.stop_reason, name: use.name, input: use.input, idSet: !!use.id, answer: text(answer), answerStop: answer.stop_reason };

const thinking = { type: 'enabled', budget_tokens: 2048 };
const thought = await client.messages.stream({ model, max_tokens: 4096, thinking, messages: user('Think, then answer') }).finalMessage();
const blocks = thought.content.filter((c) => c.type === 'thinking');
const next = await client.messages.create({ model, max_tokens: 4096, thinking, messages: [
  ...user('Think, then answer'),
  { role: 'assistant', content: thought.content },
  ...user('And tomorrow?'),
] });
out.thinking = { first: thought.content[0].type, thinking: blocks.map((b) => b.thinking).join(''),
  signature: blocks.map((b) => b.signature).filter((s) => s).pop() ?? '', text: text(thought), next: text(next) };

const counted = await client.messages.countTokens({ model, messages: user('Weather in Paris?'), tools });
out.countTokens = counted.input_tokens;

const ids = [];
for await (const m of client.models.list({ limit: 2 })) ids.push(m.id);
const one = await client.models.retrieve(model);
out.models = { ids, retrieved: one.id, type: one.type };

const stranger = new Anthropic({ baseURL, apiKey: 'agk_wrong_key_0000000000000000', maxRetries: 0 });
for (const [name, c, params] of [
  ['badKey', stranger, { model, max_tokens: 16, messages: user('hi') }],
  ['notFound', client, { model: 'no-such-model', max_tokens: 16, messages: user('hi') }],
  ['badRequest', client, { model, max_tokens: 4096, thinking: { type: 'enabled', budget_tokens: 100 }, messages: user('hi') }],
]) {
  try {
    await c.messages.create(params);
    out[name] = { thrown: false };
  } catch (e) {
    out[name] = { thrown: true, status: e.status, cls: e.constructor.name, type: e.error?.error?.type ?? null, requestID: e.requestID ?? e.request_id ?? null };
  }
}
console.log(JSON.stringify(out));
