package xmodal.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Nearest-neighbour search by cosine similarity in the shared space.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: xmodal/v1/search.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class SearchServiceGrpc {

  private SearchServiceGrpc() {}

  public static final String SERVICE_NAME = "xmodal.v1.SearchService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByTextRequest,
      xmodal.v1.Search.SearchByTextResponse> getSearchByTextMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SearchByText",
      requestType = xmodal.v1.Search.SearchByTextRequest.class,
      responseType = xmodal.v1.Search.SearchByTextResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByTextRequest,
      xmodal.v1.Search.SearchByTextResponse> getSearchByTextMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByTextRequest, xmodal.v1.Search.SearchByTextResponse> getSearchByTextMethod;
    if ((getSearchByTextMethod = SearchServiceGrpc.getSearchByTextMethod) == null) {
      synchronized (SearchServiceGrpc.class) {
        if ((getSearchByTextMethod = SearchServiceGrpc.getSearchByTextMethod) == null) {
          SearchServiceGrpc.getSearchByTextMethod = getSearchByTextMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.Search.SearchByTextRequest, xmodal.v1.Search.SearchByTextResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SearchByText"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByTextRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByTextResponse.getDefaultInstance()))
              .setSchemaDescriptor(new SearchServiceMethodDescriptorSupplier("SearchByText"))
              .build();
        }
      }
    }
    return getSearchByTextMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByImageRequest,
      xmodal.v1.Search.SearchByImageResponse> getSearchByImageMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SearchByImage",
      requestType = xmodal.v1.Search.SearchByImageRequest.class,
      responseType = xmodal.v1.Search.SearchByImageResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByImageRequest,
      xmodal.v1.Search.SearchByImageResponse> getSearchByImageMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByImageRequest, xmodal.v1.Search.SearchByImageResponse> getSearchByImageMethod;
    if ((getSearchByImageMethod = SearchServiceGrpc.getSearchByImageMethod) == null) {
      synchronized (SearchServiceGrpc.class) {
        if ((getSearchByImageMethod = SearchServiceGrpc.getSearchByImageMethod) == null) {
          SearchServiceGrpc.getSearchByImageMethod = getSearchByImageMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.Search.SearchByImageRequest, xmodal.v1.Search.SearchByImageResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SearchByImage"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByImageRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByImageResponse.getDefaultInstance()))
              .setSchemaDescriptor(new SearchServiceMethodDescriptorSupplier("SearchByImage"))
              .build();
        }
      }
    }
    return getSearchByImageMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.Search.SearchBySpeechRequest,
      xmodal.v1.Search.SearchBySpeechResponse> getSearchBySpeechMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SearchBySpeech",
      requestType = xmodal.v1.Search.SearchBySpeechRequest.class,
      responseType = xmodal.v1.Search.SearchBySpeechResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.Search.SearchBySpeechRequest,
      xmodal.v1.Search.SearchBySpeechResponse> getSearchBySpeechMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.Search.SearchBySpeechRequest, xmodal.v1.Search.SearchBySpeechResponse> getSearchBySpeechMethod;
    if ((getSearchBySpeechMethod = SearchServiceGrpc.getSearchBySpeechMethod) == null) {
      synchronized (SearchServiceGrpc.class) {
        if ((getSearchBySpeechMethod = SearchServiceGrpc.getSearchBySpeechMethod) == null) {
          SearchServiceGrpc.getSearchBySpeechMethod = getSearchBySpeechMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.Search.SearchBySpeechRequest, xmodal.v1.Search.SearchBySpeechResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SearchBySpeech"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchBySpeechRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchBySpeechResponse.getDefaultInstance()))
              .setSchemaDescriptor(new SearchServiceMethodDescriptorSupplier("SearchBySpeech"))
              .build();
        }
      }
    }
    return getSearchBySpeechMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByVectorRequest,
      xmodal.v1.Search.SearchByVectorResponse> getSearchByVectorMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SearchByVector",
      requestType = xmodal.v1.Search.SearchByVectorRequest.class,
      responseType = xmodal.v1.Search.SearchByVectorResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByVectorRequest,
      xmodal.v1.Search.SearchByVectorResponse> getSearchByVectorMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.Search.SearchByVectorRequest, xmodal.v1.Search.SearchByVectorResponse> getSearchByVectorMethod;
    if ((getSearchByVectorMethod = SearchServiceGrpc.getSearchByVectorMethod) == null) {
      synchronized (SearchServiceGrpc.class) {
        if ((getSearchByVectorMethod = SearchServiceGrpc.getSearchByVectorMethod) == null) {
          SearchServiceGrpc.getSearchByVectorMethod = getSearchByVectorMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.Search.SearchByVectorRequest, xmodal.v1.Search.SearchByVectorResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SearchByVector"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByVectorRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.Search.SearchByVectorResponse.getDefaultInstance()))
              .setSchemaDescriptor(new SearchServiceMethodDescriptorSupplier("SearchByVector"))
              .build();
        }
      }
    }
    return getSearchByVectorMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static SearchServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SearchServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SearchServiceStub>() {
        @java.lang.Override
        public SearchServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SearchServiceStub(channel, callOptions);
        }
      };
    return SearchServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static SearchServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SearchServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SearchServiceBlockingStub>() {
        @java.lang.Override
        public SearchServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SearchServiceBlockingStub(channel, callOptions);
        }
      };
    return SearchServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static SearchServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SearchServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SearchServiceFutureStub>() {
        @java.lang.Override
        public SearchServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SearchServiceFutureStub(channel, callOptions);
        }
      };
    return SearchServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Nearest-neighbour search by cosine similarity in the shared space.
   * </pre>
   */
  public static abstract class SearchServiceImplBase implements io.grpc.BindableService {

    /**
     */
    public void searchByText(xmodal.v1.Search.SearchByTextRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByTextResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSearchByTextMethod(), responseObserver);
    }

    /**
     */
    public void searchByImage(xmodal.v1.Search.SearchByImageRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByImageResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSearchByImageMethod(), responseObserver);
    }

    /**
     * <pre>
     * A whole utterance (e.g. a spoken question) against the collection.
     * </pre>
     */
    public void searchBySpeech(xmodal.v1.Search.SearchBySpeechRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchBySpeechResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSearchBySpeechMethod(), responseObserver);
    }

    /**
     * <pre>
     * A vector already in the shared space: from EmbedText/EmbedImage/EmbedSpeech, a stored item's vector
     * (GetItems with include_vectors: "more like this"), or a client-made one such as a user's taste profile
     * averaged from liked items. Nothing is embedded, so this measures the index path alone.
     * </pre>
     */
    public void searchByVector(xmodal.v1.Search.SearchByVectorRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByVectorResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSearchByVectorMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getSearchByTextMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.Search.SearchByTextRequest,
                xmodal.v1.Search.SearchByTextResponse>(
                  this, METHODID_SEARCH_BY_TEXT)))
          .addMethod(
            getSearchByImageMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.Search.SearchByImageRequest,
                xmodal.v1.Search.SearchByImageResponse>(
                  this, METHODID_SEARCH_BY_IMAGE)))
          .addMethod(
            getSearchBySpeechMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.Search.SearchBySpeechRequest,
                xmodal.v1.Search.SearchBySpeechResponse>(
                  this, METHODID_SEARCH_BY_SPEECH)))
          .addMethod(
            getSearchByVectorMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.Search.SearchByVectorRequest,
                xmodal.v1.Search.SearchByVectorResponse>(
                  this, METHODID_SEARCH_BY_VECTOR)))
          .build();
    }
  }

  /**
   * <pre>
   * Nearest-neighbour search by cosine similarity in the shared space.
   * </pre>
   */
  public static final class SearchServiceStub extends io.grpc.stub.AbstractAsyncStub<SearchServiceStub> {
    private SearchServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SearchServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SearchServiceStub(channel, callOptions);
    }

    /**
     */
    public void searchByText(xmodal.v1.Search.SearchByTextRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByTextResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSearchByTextMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void searchByImage(xmodal.v1.Search.SearchByImageRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByImageResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSearchByImageMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * A whole utterance (e.g. a spoken question) against the collection.
     * </pre>
     */
    public void searchBySpeech(xmodal.v1.Search.SearchBySpeechRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchBySpeechResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSearchBySpeechMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * A vector already in the shared space: from EmbedText/EmbedImage/EmbedSpeech, a stored item's vector
     * (GetItems with include_vectors: "more like this"), or a client-made one such as a user's taste profile
     * averaged from liked items. Nothing is embedded, so this measures the index path alone.
     * </pre>
     */
    public void searchByVector(xmodal.v1.Search.SearchByVectorRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByVectorResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSearchByVectorMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Nearest-neighbour search by cosine similarity in the shared space.
   * </pre>
   */
  public static final class SearchServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<SearchServiceBlockingStub> {
    private SearchServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SearchServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SearchServiceBlockingStub(channel, callOptions);
    }

    /**
     */
    public xmodal.v1.Search.SearchByTextResponse searchByText(xmodal.v1.Search.SearchByTextRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSearchByTextMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.Search.SearchByImageResponse searchByImage(xmodal.v1.Search.SearchByImageRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSearchByImageMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * A whole utterance (e.g. a spoken question) against the collection.
     * </pre>
     */
    public xmodal.v1.Search.SearchBySpeechResponse searchBySpeech(xmodal.v1.Search.SearchBySpeechRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSearchBySpeechMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * A vector already in the shared space: from EmbedText/EmbedImage/EmbedSpeech, a stored item's vector
     * (GetItems with include_vectors: "more like this"), or a client-made one such as a user's taste profile
     * averaged from liked items. Nothing is embedded, so this measures the index path alone.
     * </pre>
     */
    public xmodal.v1.Search.SearchByVectorResponse searchByVector(xmodal.v1.Search.SearchByVectorRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSearchByVectorMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Nearest-neighbour search by cosine similarity in the shared space.
   * </pre>
   */
  public static final class SearchServiceFutureStub extends io.grpc.stub.AbstractFutureStub<SearchServiceFutureStub> {
    private SearchServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SearchServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SearchServiceFutureStub(channel, callOptions);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.Search.SearchByTextResponse> searchByText(
        xmodal.v1.Search.SearchByTextRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSearchByTextMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.Search.SearchByImageResponse> searchByImage(
        xmodal.v1.Search.SearchByImageRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSearchByImageMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * A whole utterance (e.g. a spoken question) against the collection.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.Search.SearchBySpeechResponse> searchBySpeech(
        xmodal.v1.Search.SearchBySpeechRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSearchBySpeechMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * A vector already in the shared space: from EmbedText/EmbedImage/EmbedSpeech, a stored item's vector
     * (GetItems with include_vectors: "more like this"), or a client-made one such as a user's taste profile
     * averaged from liked items. Nothing is embedded, so this measures the index path alone.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.Search.SearchByVectorResponse> searchByVector(
        xmodal.v1.Search.SearchByVectorRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSearchByVectorMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_SEARCH_BY_TEXT = 0;
  private static final int METHODID_SEARCH_BY_IMAGE = 1;
  private static final int METHODID_SEARCH_BY_SPEECH = 2;
  private static final int METHODID_SEARCH_BY_VECTOR = 3;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final SearchServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(SearchServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_SEARCH_BY_TEXT:
          serviceImpl.searchByText((xmodal.v1.Search.SearchByTextRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByTextResponse>) responseObserver);
          break;
        case METHODID_SEARCH_BY_IMAGE:
          serviceImpl.searchByImage((xmodal.v1.Search.SearchByImageRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByImageResponse>) responseObserver);
          break;
        case METHODID_SEARCH_BY_SPEECH:
          serviceImpl.searchBySpeech((xmodal.v1.Search.SearchBySpeechRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchBySpeechResponse>) responseObserver);
          break;
        case METHODID_SEARCH_BY_VECTOR:
          serviceImpl.searchByVector((xmodal.v1.Search.SearchByVectorRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.Search.SearchByVectorResponse>) responseObserver);
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

  private static abstract class SearchServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    SearchServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return xmodal.v1.Search.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("SearchService");
    }
  }

  private static final class SearchServiceFileDescriptorSupplier
      extends SearchServiceBaseDescriptorSupplier {
    SearchServiceFileDescriptorSupplier() {}
  }

  private static final class SearchServiceMethodDescriptorSupplier
      extends SearchServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    SearchServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (SearchServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new SearchServiceFileDescriptorSupplier())
              .addMethod(getSearchByTextMethod())
              .addMethod(getSearchByImageMethod())
              .addMethod(getSearchBySpeechMethod())
              .addMethod(getSearchByVectorMethod())
              .build();
        }
      }
    }
    return result;
  }
}
