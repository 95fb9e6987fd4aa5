// Checks health, embeds a text, searches an image collection by text and a text collection by speech.
//   xmodal-example ADDRESS QUESTION.wav [TEXT_COLLECTION=emoji] [SPEECH_COLLECTION=faq] [QUERY="red apple"]
// TLS and the bearer token come from the environment variables of the Python client's CLI: XMODAL_TLS_CA,
// XMODAL_TLS, XMODAL_TLS_CERT + XMODAL_TLS_KEY, XMODAL_TLS_SERVER_NAME, XMODAL_TOKEN (none set: plaintext).
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "grpc/health/v1/health.grpc.pb.h"
#include "xmodal/v1/embedding.grpc.pb.h"
#include "xmodal/v1/search.grpc.pb.h"

namespace {

// The first call on a CPU server can wait for a busy model.
constexpr std::chrono::seconds kDeadline(120);

// The deadline, and the bearer token if there is one. The token goes as plain metadata on each call rather than
// as grpc::AccessTokenCredentials, which gRPC sends only over TLS: the Python client sends it over plaintext too.
void Prepare(grpc::ClientContext& ctx, const std::string& token) {
  ctx.set_deadline(std::chrono::system_clock::now() + kDeadline);
  if (!token.empty()) ctx.AddMetadata("authorization", "Bearer " + token);
}

const char* CodeName(grpc::StatusCode code) {
  static const char* const kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
                                       "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
                                       "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                       "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int i = static_cast<int>(code);
  return i >= 0 && i < 17 ? kNames[i] : "UNKNOWN";
}

void Check(const grpc::Status& status) {
  if (!status.ok()) {
    std::fprintf(stderr, "error: %s: %s\n", CodeName(status.error_code()), status.error_message().c_str());
    std::exit(1);
  }
}

// A shared-space vector: dim float32 values packed little-endian (decoded byte by byte: any host endianness).
std::vector<float> Unpack(const xmodal::v1::Vector& v) {
  const std::string& b = v.data();
  if (b.size() != 4 * static_cast<size_t>(v.dim())) {
    throw std::runtime_error("vector has " + std::to_string(b.size()) + " bytes for dim " + std::to_string(v.dim()));
  }
  std::vector<float> out(v.dim());
  for (size_t i = 0; i < out.size(); ++i) {
    const auto* p = reinterpret_cast<const unsigned char*>(b.data()) + 4 * i;
    uint32_t bits = uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24;
    std::memcpy(&out[i], &bits, sizeof bits);
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// An environment variable's value; "" when unset.
std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

std::string Trim(const std::string& s) {
  const char* space = " \t\r\n\f\v";
  const size_t first = s.find_first_not_of(space);
  return first == std::string::npos ? "" : s.substr(first, s.find_last_not_of(space) - first + 1);
}

// The channel, from the same XMODAL_* variables, with the same meaning, as the Python client's CLI.
std::shared_ptr<grpc::Channel> Connect(const std::string& address) {
  const std::string ca = Env("XMODAL_TLS_CA"), cert = Env("XMODAL_TLS_CERT"), key = Env("XMODAL_TLS_KEY");
  const std::string server_name = Env("XMODAL_TLS_SERVER_NAME");
  std::string tls = Trim(Env("XMODAL_TLS"));
  for (char& c : tls) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool tls_on = tls == "1" || tls == "true" || tls == "yes" || tls == "on";
  if (cert.empty() != key.empty()) {
    std::fprintf(stderr, "error: XMODAL_TLS_CERT and XMODAL_TLS_KEY go together: both for mutual TLS, or neither\n");
    std::exit(1);
  }
  if (!tls_on && ca.empty() && cert.empty() && server_name.empty()) {
    return grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  }
  grpc::SslCredentialsOptions ssl;  // pem_root_certs left empty: gRPC's default root certificates
  if (!ca.empty()) ssl.pem_root_certs = ReadFile(ca);
  if (!cert.empty()) {  // mutual TLS
    ssl.pem_cert_chain = ReadFile(cert);
    ssl.pem_private_key = ReadFile(key);
  }
  grpc::ChannelArguments args;
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);  // GRPC_SSL_TARGET_NAME_OVERRIDE_ARG
  return grpc::CreateCustomChannel(address, grpc::SslCredentials(ssl), args);
}

void PrintHits(const char* label, const xmodal::v1::SearchResult& result) {
  int rank = 1;
  for (const auto& h : result.hits()) {
    std::string text = h.text();
    for (char& c : text) if (c == '\n') c = ' ';
    std::printf("%s %d id=%s score=%.6f modality=%s text=%s\n", label, rank++, h.id().c_str(), h.score(),
                xmodal::v1::Modality_Name(h.modality()).c_str(), text.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: xmodal-example ADDRESS QUESTION.wav [TEXT_COLLECTION] [SPEECH_COLLECTION] [QUERY]\n");
    return 2;
  }
  const std::string address = argv[1];
  const std::string wav = ReadFile(argv[2]);
  const std::string image_collection = argc > 3 ? argv[3] : "emoji";
  const std::string speech_collection = argc > 4 ? argv[4] : "faq";
  const std::string query = argc > 5 ? argv[5] : "red apple";

  auto channel = Connect(address);
  const std::string token = Trim(Env("XMODAL_TOKEN"));

  {
    grpc::ClientContext ctx;
    Prepare(ctx, token);
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    Check(grpc::health::v1::Health::NewStub(channel)->Check(&ctx, req, &resp));
    std::printf("health: %s\n", grpc::health::v1::HealthCheckResponse::ServingStatus_Name(resp.status()).c_str());
  }

  {
    grpc::ClientContext ctx;
    Prepare(ctx, token);
    xmodal::v1::EmbedTextRequest req;
    req.add_texts(query);
    xmodal::v1::EmbedTextResponse resp;
    Check(xmodal::v1::EmbeddingService::NewStub(channel)->EmbedText(&ctx, req, &resp));
    std::vector<float> vector = Unpack(resp.result().embeddings(0).vector());
    std::printf("space: %s\ndim: %zu\nvector: [", resp.result().space_id().c_str(), vector.size());
    for (size_t i = 0; i < vector.size(); ++i) {
      std::printf("%s%.9g", i ? ", " : "", static_cast<double>(vector[i]));  // 9 digits: exact for float32
    }
    std::printf("]\n");
  }

  auto search = xmodal::v1::SearchService::NewStub(channel);
  {
    grpc::ClientContext ctx;
    Prepare(ctx, token);
    xmodal::v1::SearchByTextRequest req;
    req.set_collection(image_collection);
    req.set_text(query);
    req.mutable_options()->set_top_k(3);
    xmodal::v1::SearchByTextResponse resp;
    Check(search->SearchByText(&ctx, req, &resp));
    PrintHits("text_hit", resp.result());
  }
  {
    grpc::ClientContext ctx;
    Prepare(ctx, token);
    xmodal::v1::SearchBySpeechRequest req;
    req.set_collection(speech_collection);
    req.mutable_audio()->set_data(wav);
    req.mutable_options()->set_top_k(3);
    xmodal::v1::SearchBySpeechResponse resp;
    Check(search->SearchBySpeech(&ctx, req, &resp));
    std::printf("transcript: %s\n", resp.transcript().c_str());
    PrintHits("speech_hit", resp.result());
  }
  return 0;
}
