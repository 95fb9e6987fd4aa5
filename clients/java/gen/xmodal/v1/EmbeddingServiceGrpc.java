package xmodal.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Embeds inputs into the shared space. Every vector is L2-normalised: cosine = dot product.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: xmodal/v1/embedding.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class EmbeddingServiceGrpc {

  private EmbeddingServiceGrpc() {}

  public static final String SERVICE_NAME = "xmodal.v1.EmbeddingService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedTextRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> getEmbedTextMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedText",
      requestType = xmodal.v1.EmbeddingOuterClass.EmbedTextRequest.class,
      responseType = xmodal.v1.EmbeddingOuterClass.EmbedTextResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedTextRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> getEmbedTextMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedTextRequest, xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> getEmbedTextMethod;
    if ((getEmbedTextMethod = EmbeddingServiceGrpc.getEmbedTextMethod) == null) {
      synchronized (EmbeddingServiceGrpc.class) {
        if ((getEmbedTextMethod = EmbeddingServiceGrpc.getEmbedTextMethod) == null) {
          EmbeddingServiceGrpc.getEmbedTextMethod = getEmbedTextMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.EmbeddingOuterClass.EmbedTextRequest, xmodal.v1.EmbeddingOuterClass.EmbedTextResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedText"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedTextRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedTextResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbeddingServiceMethodDescriptorSupplier("EmbedText"))
              .build();
        }
      }
    }
    return getEmbedTextMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedImageRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> getEmbedImageMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedImage",
      requestType = xmodal.v1.EmbeddingOuterClass.EmbedImageRequest.class,
      responseType = xmodal.v1.EmbeddingOuterClass.EmbedImageResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedImageRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> getEmbedImageMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedImageRequest, xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> getEmbedImageMethod;
    if ((getEmbedImageMethod = EmbeddingServiceGrpc.getEmbedImageMethod) == null) {
      synchronized (EmbeddingServiceGrpc.class) {
        if ((getEmbedImageMethod = EmbeddingServiceGrpc.getEmbedImageMethod) == null) {
          EmbeddingServiceGrpc.getEmbedImageMethod = getEmbedImageMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.EmbeddingOuterClass.EmbedImageRequest, xmodal.v1.EmbeddingOuterClass.EmbedImageResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedImage"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedImageRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedImageResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbeddingServiceMethodDescriptorSupplier("EmbedImage"))
              .build();
        }
      }
    }
    return getEmbedImageMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> getEmbedSpeechMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "EmbedSpeech",
      requestType = xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest.class,
      responseType = xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest,
      xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> getEmbedSpeechMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest, xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> getEmbedSpeechMethod;
    if ((getEmbedSpeechMethod = EmbeddingServiceGrpc.getEmbedSpeechMethod) == null) {
      synchronized (EmbeddingServiceGrpc.class) {
        if ((getEmbedSpeechMethod = EmbeddingServiceGrpc.getEmbedSpeechMethod) == null) {
          EmbeddingServiceGrpc.getEmbedSpeechMethod = getEmbedSpeechMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest, xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "EmbedSpeech"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse.getDefaultInstance()))
              .setSchemaDescriptor(new EmbeddingServiceMethodDescriptorSupplier("EmbedSpeech"))
              .build();
        }
      }
    }
    return getEmbedSpeechMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static EmbeddingServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceStub>() {
        @java.lang.Override
        public EmbeddingServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbeddingServiceStub(channel, callOptions);
        }
      };
    return EmbeddingServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static EmbeddingServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceBlockingStub>() {
        @java.lang.Override
        public EmbeddingServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbeddingServiceBlockingStub(channel, callOptions);
        }
      };
    return EmbeddingServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static EmbeddingServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<EmbeddingServiceFutureStub>() {
        @java.lang.Override
        public EmbeddingServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new EmbeddingServiceFutureStub(channel, callOptions);
        }
      };
    return EmbeddingServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Embeds inputs into the shared space. Every vector is L2-normalised: cosine = dot product.
   * </pre>
   */
  public static abstract class EmbeddingServiceImplBase implements io.grpc.BindableService {

    /**
     */
    public void embedText(xmodal.v1.EmbeddingOuterClass.EmbedTextRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedTextMethod(), responseObserver);
    }

    /**
     */
    public void embedImage(xmodal.v1.EmbeddingOuterClass.EmbedImageRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedImageMethod(), responseObserver);
    }

    /**
     */
    public void embedSpeech(xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getEmbedSpeechMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getEmbedTextMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.EmbeddingOuterClass.EmbedTextRequest,
                xmodal.v1.EmbeddingOuterClass.EmbedTextResponse>(
                  this, METHODID_EMBED_TEXT)))
          .addMethod(
            getEmbedImageMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.EmbeddingOuterClass.EmbedImageRequest,
                xmodal.v1.EmbeddingOuterClass.EmbedImageResponse>(
                  this, METHODID_EMBED_IMAGE)))
          .addMethod(
            getEmbedSpeechMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest,
                xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse>(
                  this, METHODID_EMBED_SPEECH)))
          .build();
    }
  }

  /**
   * <pre>
   * Embeds inputs into the shared space. Every vector is L2-normalised: cosine = dot product.
   * </pre>
   */
  public static final class EmbeddingServiceStub extends io.grpc.stub.AbstractAsyncStub<EmbeddingServiceStub> {
    private EmbeddingServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbeddingServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbeddingServiceStub(channel, callOptions);
    }

    /**
     */
    public void embedText(xmodal.v1.EmbeddingOuterClass.EmbedTextRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedTextMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void embedImage(xmodal.v1.EmbeddingOuterClass.EmbedImageRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedImageMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void embedSpeech(xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getEmbedSpeechMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Embeds inputs into the shared space. Every vector is L2-normalised: cosine = dot product.
   * </pre>
   */
  public static final class EmbeddingServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<EmbeddingServiceBlockingStub> {
    private EmbeddingServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbeddingServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbeddingServiceBlockingStub(channel, callOptions);
    }

    /**
     */
    public xmodal.v1.EmbeddingOuterClass.EmbedTextResponse embedText(xmodal.v1.EmbeddingOuterClass.EmbedTextRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedTextMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.EmbeddingOuterClass.EmbedImageResponse embedImage(xmodal.v1.EmbeddingOuterClass.EmbedImageRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedImageMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse embedSpeech(xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getEmbedSpeechMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Embeds inputs into the shared space. Every vector is L2-normalised: cosine = dot product.
   * </pre>
   */
  public static final class EmbeddingServiceFutureStub extends io.grpc.stub.AbstractFutureStub<EmbeddingServiceFutureStub> {
    private EmbeddingServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected EmbeddingServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new EmbeddingServiceFutureStub(channel, callOptions);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.EmbeddingOuterClass.EmbedTextResponse> embedText(
        xmodal.v1.EmbeddingOuterClass.EmbedTextRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedTextMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.EmbeddingOuterClass.EmbedImageResponse> embedImage(
        xmodal.v1.EmbeddingOuterClass.EmbedImageRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedImageMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse> embedSpeech(
        xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getEmbedSpeechMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_EMBED_TEXT = 0;
  private static final int METHODID_EMBED_IMAGE = 1;
  private static final int METHODID_EMBED_SPEECH = 2;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final EmbeddingServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(EmbeddingServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_EMBED_TEXT:
          serviceImpl.embedText((xmodal.v1.EmbeddingOuterClass.EmbedTextRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedTextResponse>) responseObserver);
          break;
        case METHODID_EMBED_IMAGE:
          serviceImpl.embedImage((xmodal.v1.EmbeddingOuterClass.EmbedImageRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedImageResponse>) responseObserver);
          break;
        case METHODID_EMBED_SPEECH:
          serviceImpl.embedSpeech((xmodal.v1.EmbeddingOuterClass.EmbedSpeechRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.EmbeddingOuterClass.EmbedSpeechResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  private static abstract class EmbeddingServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    EmbeddingServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return xmodal.v1.EmbeddingOuterClass.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("EmbeddingService");
    }
  }

  private static final class EmbeddingServiceFileDescriptorSupplier
      extends EmbeddingServiceBaseDescriptorSupplier {
    EmbeddingServiceFileDescriptorSupplier() {}
  }

  private static final class EmbeddingServiceMethodDescriptorSupplier
      extends EmbeddingServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    EmbeddingServiceMethodDescriptorSupplier(String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (EmbeddingServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new EmbeddingServiceFileDescriptorSupplier())
              .addMethod(getEmbedTextMethod())
              .addMethod(getEmbedImageMethod())
              .addMethod(getEmbedSpeechMethod())
              .build();
        }
      }
    }
    return result;
  }
}
