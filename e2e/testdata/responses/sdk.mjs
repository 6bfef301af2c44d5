// Drives the official openai npm SDK's Responses API against agentgate:
// node sdk.mjs <baseURL> <apiKey> <agent>. Prints one JSON object with
// what each call returned; the Go test checks it.
import OpenAI from 'openai';

const [baseURL, apiKey, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });
const out = {};
// The text of a response's message items (output_text is a client-side
// convenience the SDK adds to some results only).
const textOf = (r) => r.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');

const first = await client.responses.create({ model, input: 'Hello from node' });
out.create = { id: first.id, object: first.object, status: first.status, text: first.output_text, wireText: textOf(first), usage: first.usage };

const second = await client.responses.create({ model, input: 'And again', previous_response_id: first.id });
out.followUp = { id: second.id, previous: second.previous_response_id, text: second.output_text };

const stream = await client.responses.create({ model, input: 'Stream please', stream: true, instructions: 'Be brief.' });
const types = [];
const seqs = [];
let text = '';
let completed = null;
for await (const ev of stream) {
  types.push(ev.type);
  seqs.push(ev.sequence_number);
  if (ev.type === 'response.output_text.delta') text += ev.delta;
  if (ev.type === 'response.completed') completed = ev.response;
}
out.stream = { types, seqs, text, completedText: completed && textOf(completed), completedStatus: completed && completed.status };

const helper = client.responses.stream({ model, input: 'Through the helper' });
const final = await helper.finalResponse();
out.helper = { text: textOf(final), status: final.status };

const got = await client.responses.retrieve(first.id);
out.retrieved = { id: got.id, text: textOf(got) };

for (const [name, params] of [['notFound', { model: 'no-such-agent', input: 'x' }], ['badRequest', { model }]]) {
  try {
    await client.responses.create(params);
    out[name] = { thrown: false };
  } catch (e) {
    out[name] = { thrown: true, status: e.status, cls: e.constructor.name, code: e.code ?? null, param: e.param ?? null };
  }
}
console.log(JSON.stringify(out));
