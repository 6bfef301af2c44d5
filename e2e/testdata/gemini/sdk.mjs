// Drives agentgate's gemini dialect with the npm @google/genai SDK, with
// only its base URL and key changed, and prints what came back as one JSON
// object for e2e/gemini_node_test.go to check.
//
//   node sdk.mjs <base URL> <key> <model> <embedding model> <JPEG base64>
import { GoogleGenAI, Type, ApiError } from '@google/genai';

const [baseUrl, apiKey, model, embedModel, jpeg] = process.argv.slice(2);
const ai = new GoogleGenAI({ apiKey, httpOptions: { baseUrl } });
const out = {};

// answer takes a response (or a stream's chunks) apart as the test needs.
function answer(responses) {
  const a = { text: '', thoughts: '', calls: [], parts: [], chunks: 0 };
  for (const r of responses) {
    const c = r.candidates?.[0];
    for (const p of c?.content?.parts ?? []) {
      if (p.functionCall) a.calls.push(p.functionCall);
      else if (p.thought) a.thoughts += p.text ?? '';
      else if (p.text) { a.text += p.text; a.chunks++; }
      a.parts.push(p);
    }
    if (c?.finishReason) a.finish = c.finishReason;
    if (r.usageMetadata) a.usage = r.usageMetadata;
    a.id = r.responseId;
    a.model = r.modelVersion;
  }
  return a;
}

async function generate(stream, contents, config) {
  if (!stream) return answer([await ai.models.generateContent({ model, contents, config })]);
  const chunks = [];
  for await (const c of await ai.models.generateContentStream({ model, contents, config })) chunks.push(c);
  return answer(chunks);
}

async function caught(f) {
  try {
    await f();
    return { ok: true };
  } catch (e) {
    if (!(e instanceof ApiError)) return { other: String(e) };
    const m = /got status: (\w+)/.exec(e.message) ?? /"status":"(\w+)"/.exec(e.message);
    return { code: e.status, status: m?.[1] ?? '' };
  }
}

const weather = {
  functionDeclarations: [{
    name: 'get_weather',
    description: 'Weather of a city',
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ['city'] },
  }],
};

for (const stream of [false, true]) {
  const s = stream ? 'stream' : 'generate';
  out[`${s}_text`] = await generate(stream, 'Weather in Paris?');
  out[`${s}_image`] = await generate(stream, [{ role: 'user', parts: [
    { text: 'What is in this picture?' }, { inlineData: { mimeType: 'image/jpeg', data: jpeg } }] }]);
  out[`${s}_thinking`] = await generate(stream, 'Think, then answer',
    { thinkingConfig: { includeThoughts: true, thinkingBudget: 2048 } });
  for (const thinking of [false, true]) {
    const config = { tools: [weather] };
    if (thinking) config.thinkingConfig = { includeThoughts: true, thinkingBudget: 2048 };
    const user = { role: 'user', parts: [{ text: 'Weather in Paris?' }] };
    const call = await generate(stream, [user], config);
    const fc = call.calls[0];
    const follow = await generate(stream, [user, { role: 'model', parts: call.parts },
      { role: 'user', parts: [{ functionResponse: { id: fc?.id, name: fc?.name, response: { temp: 21 } } }] }], config);
    out[`${s}_tools${thinking ? '_thinking' : ''}`] = { call, follow };
  }
}

out.count = await ai.models.countTokens({ model, contents: 'How many tokens is this?' });
const emb = await ai.models.embedContent({ model: embedModel, contents: ['hello world', 'abc'] });
out.embed = emb.embeddings.map((e) => e.values);

out.errors = {
  bad_key: await caught(() => new GoogleGenAI({ apiKey: 'agk_wrong_key_000000000000000000', httpOptions: { baseUrl } })
    .models.generateContent({ model, contents: 'hi' })),
  unknown_model: await caught(() => ai.models.generateContent({ model: 'no-such-model', contents: 'hi' })),
  bad_request: await caught(() => ai.models.generateContent({ model, contents: 'hi', config: { candidateCount: 2 } })),
  stream_unknown_model: await caught(async () => {
    for await (const _ of await ai.models.generateContentStream({ model: 'no-such-model', contents: 'hi' })) { /* drain */ }
  }),
};

process.stdout.write(JSON.stringify(out));
