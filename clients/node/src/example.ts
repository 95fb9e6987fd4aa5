// Checks health, embeds a text, searches an image collection by text and a text collection by speech.
//   node dist/example.js ADDRESS QUESTION.wav [TEXT_COLLECTION=emoji] [SPEECH_COLLECTION=faq] [QUERY="red apple"]
// TLS and the bearer token come from the environment variables of the Python client's CLI: XMODAL_TLS_CA,
// XMODAL_TLS, XMODAL_TLS_CERT + XMODAL_TLS_KEY, XMODAL_TLS_SERVER_NAME, XMODAL_TOKEN (none set: plaintext).
import {
  type ChannelCredentials,
  type ClientOptions,
  credentials,
  InterceptingCall,
  type Interceptor,
  type ServiceError,
  status as Status,
} from "@grpc/grpc-js";
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

/** Channel credentials and client options from the same XMODAL_* variables, with the same meaning, as `xmodal`. */
function connection(env: NodeJS.ProcessEnv): { creds: ChannelCredentials; options: ClientOptions } {
  const ca = env.XMODAL_TLS_CA || "";
  const cert = env.XMODAL_TLS_CERT || "";
  const key = env.XMODAL_TLS_KEY || "";
  const serverName = env.XMODAL_TLS_SERVER_NAME || "";
  const token = (env.XMODAL_TOKEN || "").trim();
  const tlsOn = ["1", "true", "yes", "on"].includes((env.XMODAL_TLS || "").trim().toLowerCase());
  if (!cert !== !key) {
    throw new Error("XMODAL_TLS_CERT and XMODAL_TLS_KEY go together: both for mutual TLS, or neither");
  }
  const options: ClientOptions = {};
  let creds = credentials.createInsecure();
  if (tlsOn || ca || cert || serverName) {
    // Without a CA file: the default root certificates. A client certificate makes it mutual TLS.
    creds = credentials.createSsl(ca ? readFileSync(ca) : null, key ? readFileSync(key) : null,
      cert ? readFileSync(cert) : null);
    if (serverName) options["grpc.ssl_target_name_override"] = serverName;
  }
  if (token) {
    // Metadata added by an interceptor rather than call credentials: grpc-js refuses to combine call
    // credentials with an insecure channel, and the Python client also sends a token over plaintext.
    const bearer: Interceptor = (callOptions, nextCall) => new InterceptingCall(nextCall(callOptions), {
      start: (metadata, listener, next) => {
        metadata.set("authorization", `Bearer ${token}`);
        next(metadata, listener);
      },
    });
    options.interceptors = [bearer];
  }
  return { creds, options };
}

async function main(argv: string[]): Promise<void> {
  if (argv.length < 2) {
    console.error("usage: node dist/example.js ADDRESS QUESTION.wav [TEXT_COLLECTION] [SPEECH_COLLECTION] [QUERY]");
    process.exit(2);
  }
  const [address, wavPath, imageCollection = "emoji", speechCollection = "faq", query = "red apple"] = argv;
  const wav = readFileSync(wavPath);
  const { creds, options: clientOptions } = connection(process.env);

  const healthClient = new HealthClient(address, creds, clientOptions);
  const status = await unary(healthClient, healthClient.check, HealthCheckRequest.create({ service: "" }));
  console.log(`health: ${healthCheckResponse_ServingStatusToJSON(status.status)}`);

  const embedding = new EmbeddingServiceClient(address, creds, clientOptions);
  const embedded = await unary(embedding, embedding.embedText, EmbedTextRequest.create({ texts: [query] }));
  const vector = unpackVector(embedded.result!.embeddings[0].vector!);
  console.log(`space: ${embedded.result!.spaceId}`);
  console.log(`dim: ${vector.length}`);
  // 9 significant digits (C's %.9g) read back as exactly the same float32.
  console.log(`vector: [${Array.from(vector, (x) => x.toPrecision(9)).join(", ")}]`);

  const search = new SearchServiceClient(address, creds, clientOptions);
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
  // A gRPC status has a numeric code; a file error's code is a string such as ENOENT, already in its message.
  const code = "code" in err && typeof err.code === "number" ? ` ${Status[err.code]}:` : "";
  console.error(`error:${code} ${"details" in err ? err.details : err.message}`);
  process.exit(1);
});
