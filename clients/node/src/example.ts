// Checks health, embeds a text, searches an image collection by text and a text collection by speech.
//   node dist/example.js ADDRESS QUESTION.wav [TEXT_COLLECTION=emoji] [SPEECH_COLLECTION=faq] [QUERY="red apple"]
import { credentials, type ServiceError, status as Status } from "@grpc/grpc-js";
import { readFileSync } from "node:fs";

import { HealthCheckRequest, HealthClient, healthCheckResponse_ServingStatusToJSON } from "./gen/grpc/health/v1/health";
import { Audio, modalityToJSON } from "./gen/xmodal/v1/common";
import { EmbeddingServiceClient, EmbedTextRequest } from "./gen/xmodal/v1/embedding";
import {
  type Hit,
  SearchByTextRequest,
  SearchBySpeechRequest,
  SearchOptions,
  SearchServiceClient,
} from "./gen/xmodal/v1/search";
import { unary, unpackVector } from "./index";

function printHits(label: string, hits: Hit[]): void {
  hits.forEach((h, i) => {
    console.log(`${label} ${i + 1} id=${h.id} score=${h.score.toFixed(6)} modality=${modalityToJSON(h.modality)} ` +
      `text=${h.text.replace(/\n/g, " ")}`);
  });
}

async function main(argv: string[]): Promise<void> {
  if (argv.length < 2) {
    console.error("usage: node dist/example.js ADDRESS QUESTION.wav [TEXT_COLLECTION] [SPEECH_COLLECTION] [QUERY]");
    process.exit(2);
  }
  const [address, wavPath, imageCollection = "emoji", speechCollection = "faq", query = "red apple"] = argv;
  const wav = readFileSync(wavPath);
  const creds = credentials.createInsecure();

  const healthClient = new HealthClient(address, creds);
  const status = await unary(healthClient, healthClient.check, HealthCheckRequest.create({ service: "" }));
  console.log(`health: ${healthCheckResponse_ServingStatusToJSON(status.status)}`);

  const embedding = new EmbeddingServiceClient(address, creds);
  const embedded = await unary(embedding, embedding.embedText, EmbedTextRequest.create({ texts: [query] }));
  const vector = unpackVector(embedded.result!.embeddings[0].vector!);
  console.log(`space: ${embedded.result!.spaceId}`);
  console.log(`dim: ${vector.length}`);
  // 9 significant digits (C's %.9g) read back as exactly the same float32.
  console.log(`vector: [${Array.from(vector, (x) => x.toPrecision(9)).join(", ")}]`);

  const search = new SearchServiceClient(address, creds);
  // create() fills unset fields with their defaults, so this code keeps compiling when fields are added.
  const options = SearchOptions.create({ topK: 3 });
  const byText = await unary(search, search.searchByText,
    SearchByTextRequest.create({ collection: imageCollection, text: query, options }));
  printHits("text_hit", byText.result!.hits);

  const bySpeech = await unary(search, search.searchBySpeech,
    SearchBySpeechRequest.create({ collection: speechCollection, audio: Audio.create({ data: wav }), options }));
  console.log(`transcript: ${bySpeech.transcript}`);
  printHits("speech_hit", bySpeech.result!.hits);

  for (const c of [healthClient, embedding, search]) c.close();
}

main(process.argv.slice(2)).catch((err: ServiceError | Error) => {
  const code = "code" in err ? ` ${Status[err.code]}:` : "";
  console.error(`error:${code} ${"details" in err ? err.details : err.message}`);
  process.exit(1);
});
