// Drives the official openai npm SDK against agentgate with only the base
// URL changed: node surface.mjs <baseURL> <keyA> <keyB> <agent>. Prints
// one JSON object with what each call returned; the Go test checks it and
// what the upstream received.
import OpenAI, { toFile } from 'openai';

const [baseURL, keyA, keyB, agent] = process.argv.slice(2);
const a = new OpenAI({ baseURL, apiKey: keyA, maxRetries: 0 });
const b = new OpenAI({ baseURL, apiKey: keyB, maxRetries: 0 });
const out = {};
const textOf = (r) => r.output.filter((o) => o.type === 'message').flatMap((o) => o.content).map((c) => c.text).join('');
const failure = async (fn) => {
  try {
    await fn();
    return { thrown: false };
  } catch (e) {
    return { thrown: true, status: e.status, cls: e.constructor.name, code: e.code ?? null };
  }
};

// Models: agents and the models the key may call, each retrievable.
const models = [];
for await (const m of a.models.list()) models.push({ id: m.id, owned_by: m.owned_by });
out.models = models;
out.retrieved = {};
for (const id of [agent, 'gpt-4o-mini', 'openai/gpt-4o', 'voice']) {
  const m = await a.models.retrieve(id);
  out.retrieved[id] = { id: m.id, object: m.object, owned_by: m.owned_by };
}

// Responses: two branches from one response.
const first = await a.responses.create({ model: agent, input: 'My name is Ada.' });
const apples = await a.responses.create({ model: agent, input: 'Branch A: I like apples.', previous_response_id: first.id });
const bananas = await a.responses.create({ model: agent, input: 'Branch B: I like bananas.', previous_response_id: first.id });
const askA = await a.responses.create({ model: agent, input: 'Question A: what do I like?', previous_response_id: apples.id });
const askB = await a.responses.create({ model: agent, input: 'Question B: what do I like?', previous_response_id: bananas.id });
out.ids = { first: first.id, apples: apples.id, bananas: bananas.id, askA: askA.id, askB: askB.id };
out.previous = { apples: apples.previous_response_id, bananas: bananas.previous_response_id, askA: askA.previous_response_id };
const again = await a.responses.retrieve(first.id);
out.retrieveFirst = { id: again.id, text: textOf(again) };
const items = [];
for await (const it of a.responses.inputItems.list(askA.id, { order: 'asc', limit: 2 })) {
  items.push({ id: it.id, type: it.type, role: it.role, text: it.content?.[0]?.text });
}
out.inputItems = items;
await a.responses.delete(bananas.id);
out.afterDelete = await failure(() => a.responses.retrieve(bananas.id));
out.otherTenant = await failure(() => b.responses.retrieve(first.id));

// A conversation with items, and a response in it.
const conv = await a.conversations.create({ items: [{ role: 'user', content: 'My favourite colour is green.' }], metadata: { topic: 'colours' } });
const inConv = await a.responses.create({ model: agent, input: 'What is my favourite colour?', conversation: conv.id });
await a.conversations.items.create(conv.id, { items: [{ type: 'message', role: 'user', content: 'Actually, blue.' }] });
const convItems = [];
for await (const it of a.conversations.items.list(conv.id, { order: 'asc', limit: 2 })) {
  convItems.push({ role: it.role, text: it.content?.[0]?.text });
}
const firstPage = await a.conversations.items.list(conv.id, { order: 'asc' });
const one = await a.conversations.items.retrieve(firstPage.data[0].id, { conversation_id: conv.id });
out.conversation = {
  id: conv.id, object: conv.object, metadata: conv.metadata, responseConversation: inConv.conversation?.id ?? null,
  items: convItems, firstItem: one.content?.[0]?.text,
  otherTenant: await failure(() => b.conversations.retrieve(conv.id)),
};
const deleted = await a.conversations.delete(conv.id);
out.conversation.deleted = { id: deleted.id, object: deleted.object, deleted: deleted.deleted };

// The endpoints passed through.
const mod = await a.moderations.create({ model: 'omni-moderation-latest', input: 'I hate this' });
out.moderation = { flagged: mod.results[0].flagged, model: mod.model };
const comp = await a.completions.create({ model: 'gpt-3.5-turbo-instruct', prompt: 'Say this' });
out.completion = { text: comp.choices[0].text, total: comp.usage.total_tokens };
const img = await a.images.generate({ model: 'dall-e-3', prompt: 'a cat' });
out.image = { b64: img.data[0].b64_json, total: img.usage?.total_tokens ?? null };
const audio = Buffer.alloc(300000, 7);
const tr = await a.audio.transcriptions.create({ file: await toFile(audio, 'speech.wav', { type: 'audio/wav' }), model: 'whisper-1' });
out.transcription = { text: tr.text };
const speech = await a.audio.speech.create({ model: 'tts-1', voice: 'alloy', input: 'Hello' });
const bytes = Buffer.from(await speech.arrayBuffer());
out.speech = { type: speech.headers.get('content-type'), length: bytes.length, head: bytes.subarray(0, 12).toString() };
const file = await a.files.create({ file: await toFile(Buffer.from('{"custom_id":"1"}\n'), 'in.jsonl'), purpose: 'batch' });
const listed = async (c) => {
  const ids = [];
  for await (const f of c.files.list()) ids.push(f.id);
  return ids;
};
out.files = { id: file.id, listedA: await listed(a), listedB: await listed(b), getB: await failure(() => b.files.retrieve(file.id)) };
const batch = await a.batches.create({ input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h' });
out.batch = { id: batch.id, object: batch.object, input: batch.input_file_id, otherTenant: await failure(() => b.batches.retrieve(batch.id)) };

console.log(JSON.stringify(out));
