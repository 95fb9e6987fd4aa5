package xmodal.example;

import com.google.protobuf.ByteString;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.MetadataUtils;
import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.StringJoiner;
import java.util.concurrent.TimeUnit;
import xmodal.v1.Common;
import xmodal.v1.EmbeddingOuterClass.EmbedTextRequest;
import xmodal.v1.EmbeddingOuterClass.EmbedTextResponse;
import xmodal.v1.EmbeddingOuterClass.Embedding;
import xmodal.v1.EmbeddingServiceGrpc;
import xmodal.v1.Search.Hit;
import xmodal.v1.Search.SearchByTextRequest;
import xmodal.v1.Search.SearchBySpeechRequest;
import xmodal.v1.Search.SearchBySpeechResponse;
import xmodal.v1.Search.SearchByTextResponse;
import xmodal.v1.Search.SearchOptions;
import xmodal.v1.SearchServiceGrpc;

/**
 * Checks health, embeds a text, searches an image collection by text and a text collection by speech.
 * Usage: XmodalExample ADDRESS QUESTION.wav [TEXT_COLLECTION=emoji] [SPEECH_COLLECTION=faq] [QUERY="red apple"]
 * TLS and the bearer token come from the environment variables of the Python client's CLI: XMODAL_TLS_CA,
 * XMODAL_TLS, XMODAL_TLS_CERT + XMODAL_TLS_KEY, XMODAL_TLS_SERVER_NAME, XMODAL_TOKEN (none set: plaintext).
 */
public final class XmodalExample {
  private static final long DEADLINE_S = 120; // the first call on a CPU server can wait for a busy model

  /** A shared-space vector: dim float32 values packed little-endian. */
  static float[] unpack(Common.Vector v) {
    ByteBuffer b = v.getData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
    if (b.remaining() != 4 * v.getDim()) {
      throw new IllegalStateException("vector has " + b.remaining() + " bytes for dim " + v.getDim());
    }
    float[] out = new float[v.getDim()];
    b.asFloatBuffer().get(out);
    return out;
  }

  static void printHits(String label, List<Hit> hits) {
    int rank = 1;
    for (Hit h : hits) {
      System.out.printf("%s %d id=%s score=%.6f modality=%s text=%s%n", label, rank++, h.getId(), h.getScore(),
          h.getModality().name(), h.getText().replace('\n', ' '));
    }
  }

  /** An environment variable's value; "" when unset. */
  static String env(String name) {
    String value = System.getenv(name);
    return value == null ? "" : value;
  }

  /** The channel, from the same XMODAL_* variables, with the same meaning, as the Python client's CLI. */
  static ManagedChannel connect(String address) throws IOException {
    String ca = env("XMODAL_TLS_CA"), cert = env("XMODAL_TLS_CERT"), key = env("XMODAL_TLS_KEY");
    String serverName = env("XMODAL_TLS_SERVER_NAME");
    boolean tlsOn = Arrays.asList("1", "true", "yes", "on").contains(env("XMODAL_TLS").trim().toLowerCase(Locale.ROOT));
    if (cert.isEmpty() != key.isEmpty()) {
      throw new IllegalArgumentException("XMODAL_TLS_CERT and XMODAL_TLS_KEY go together: both for mutual TLS, or neither");
    }
    if (!tlsOn && ca.isEmpty() && cert.isEmpty() && serverName.isEmpty()) {
      return ManagedChannelBuilder.forTarget(address).usePlaintext().build();
    }
    TlsChannelCredentials.Builder tls = TlsChannelCredentials.newBuilder(); // no CA file: the JDK's trusted roots
    if (!ca.isEmpty()) {
      tls.trustManager(new File(ca));
    }
    if (!cert.isEmpty()) {
      tls.keyManager(new File(cert), new File(key)); // mutual TLS (the key in PKCS#8 PEM, as the JDK reads it)
    }
    ManagedChannelBuilder<?> builder;
    try {
      builder = Grpc.newChannelBuilder(address, tls.build());
    } catch (UnsupportedOperationException err) {
      // gRPC needs ALPN, and Debian's netty 4.1.48 is built without ALPN for the JDK's own TLS: only OpenSSL's
      // (netty-tcnative on the classpath, its JNI library on java.library.path) offers it.
      throw new IllegalStateException("TLS needs ALPN, which this netty offers only with netty-tcnative (OpenSSL): "
          + err.getMessage());
    }
    if (!serverName.isEmpty()) {
      builder.overrideAuthority(serverName); // the name verified in the server's certificate
    }
    return builder.build();
  }

  public static void main(String[] args) throws Exception {
    if (args.length < 2) {
      System.err.println("usage: xmodal-example ADDRESS QUESTION.wav [TEXT_COLLECTION] [SPEECH_COLLECTION] [QUERY]");
      System.exit(2);
    }
    String address = args[0];
    byte[] wav = Files.readAllBytes(Paths.get(args[1]));
    String imageCollection = args.length > 2 ? args[2] : "emoji";
    String speechCollection = args.length > 3 ? args[3] : "faq";
    String query = args.length > 4 ? args[4] : "red apple";

    ManagedChannel channel;
    try {
      channel = connect(address);
    } catch (IOException | IllegalArgumentException | IllegalStateException err) {
      System.err.println("error: " + err.getMessage());
      System.exit(1);
      return;
    }
    Channel calls = channel;
    String token = env("XMODAL_TOKEN").trim();
    if (!token.isEmpty()) {
      // A header on every call, over TLS or plaintext alike, as the Python client sends it.
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + token);
      calls = ClientInterceptors.intercept(channel, MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    try {
      HealthCheckResponse health = HealthGrpc.newBlockingStub(calls).withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS)
          .check(HealthCheckRequest.newBuilder().setService("").build());
      System.out.println("health: " + health.getStatus().name());

      EmbedTextResponse embedded = EmbeddingServiceGrpc.newBlockingStub(calls)
          .withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS)
          .embedText(EmbedTextRequest.newBuilder().addTexts(query).build());
      Embedding e = embedded.getResult().getEmbeddings(0);
      float[] vector = unpack(e.getVector());
      StringJoiner joined = new StringJoiner(", ", "[", "]");
      for (float x : vector) {
        joined.add(Float.toString(x)); // the shortest decimal that reads back as the same float32
      }
      System.out.println("space: " + embedded.getResult().getSpaceId());
      System.out.println("dim: " + vector.length);
      System.out.println("vector: " + joined);

      SearchServiceGrpc.SearchServiceBlockingStub search = SearchServiceGrpc.newBlockingStub(calls);
      SearchByTextResponse byText = search.withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS).searchByText(
          SearchByTextRequest.newBuilder().setCollection(imageCollection).setText(query)
              .setOptions(SearchOptions.newBuilder().setTopK(3)).build());
      printHits("text_hit", byText.getResult().getHitsList());

      SearchBySpeechResponse bySpeech = search.withDeadlineAfter(DEADLINE_S, TimeUnit.SECONDS).searchBySpeech(
          SearchBySpeechRequest.newBuilder().setCollection(speechCollection)
              .setAudio(Common.Audio.newBuilder().setData(ByteString.copyFrom(wav)))
              .setOptions(SearchOptions.newBuilder().setTopK(3)).build());
      System.out.println("transcript: " + bySpeech.getTranscript());
      printHits("speech_hit", bySpeech.getResult().getHitsList());
    } catch (StatusRuntimeException err) {
      System.err.println("error: " + err.getStatus().getCode() + ": " + err.getStatus().getDescription());
      System.exit(1);
    } finally {
      channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
    }
  }
}
