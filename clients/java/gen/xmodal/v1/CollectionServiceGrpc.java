package xmodal.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * Named collections of items, each with its own persisted vector index.
 * </pre>
 */
@javax.annotation.Generated(
    value = "by gRPC proto compiler",
    comments = "Source: xmodal/v1/collection.proto")
@io.grpc.stub.annotations.GrpcGenerated
public final class CollectionServiceGrpc {

  private CollectionServiceGrpc() {}

  public static final String SERVICE_NAME = "xmodal.v1.CollectionService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.CreateCollectionRequest,
      xmodal.v1.CollectionOuterClass.CreateCollectionResponse> getCreateCollectionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateCollection",
      requestType = xmodal.v1.CollectionOuterClass.CreateCollectionRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.CreateCollectionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.CreateCollectionRequest,
      xmodal.v1.CollectionOuterClass.CreateCollectionResponse> getCreateCollectionMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.CreateCollectionRequest, xmodal.v1.CollectionOuterClass.CreateCollectionResponse> getCreateCollectionMethod;
    if ((getCreateCollectionMethod = CollectionServiceGrpc.getCreateCollectionMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getCreateCollectionMethod = CollectionServiceGrpc.getCreateCollectionMethod) == null) {
          CollectionServiceGrpc.getCreateCollectionMethod = getCreateCollectionMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.CreateCollectionRequest, xmodal.v1.CollectionOuterClass.CreateCollectionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateCollection"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.CreateCollectionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.CreateCollectionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("CreateCollection"))
              .build();
        }
      }
    }
    return getCreateCollectionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ListCollectionsRequest,
      xmodal.v1.CollectionOuterClass.ListCollectionsResponse> getListCollectionsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListCollections",
      requestType = xmodal.v1.CollectionOuterClass.ListCollectionsRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.ListCollectionsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ListCollectionsRequest,
      xmodal.v1.CollectionOuterClass.ListCollectionsResponse> getListCollectionsMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ListCollectionsRequest, xmodal.v1.CollectionOuterClass.ListCollectionsResponse> getListCollectionsMethod;
    if ((getListCollectionsMethod = CollectionServiceGrpc.getListCollectionsMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getListCollectionsMethod = CollectionServiceGrpc.getListCollectionsMethod) == null) {
          CollectionServiceGrpc.getListCollectionsMethod = getListCollectionsMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.ListCollectionsRequest, xmodal.v1.CollectionOuterClass.ListCollectionsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListCollections"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.ListCollectionsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.ListCollectionsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("ListCollections"))
              .build();
        }
      }
    }
    return getListCollectionsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteCollectionRequest,
      xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> getDeleteCollectionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteCollection",
      requestType = xmodal.v1.CollectionOuterClass.DeleteCollectionRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.DeleteCollectionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteCollectionRequest,
      xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> getDeleteCollectionMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteCollectionRequest, xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> getDeleteCollectionMethod;
    if ((getDeleteCollectionMethod = CollectionServiceGrpc.getDeleteCollectionMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getDeleteCollectionMethod = CollectionServiceGrpc.getDeleteCollectionMethod) == null) {
          CollectionServiceGrpc.getDeleteCollectionMethod = getDeleteCollectionMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.DeleteCollectionRequest, xmodal.v1.CollectionOuterClass.DeleteCollectionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteCollection"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.DeleteCollectionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.DeleteCollectionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("DeleteCollection"))
              .build();
        }
      }
    }
    return getDeleteCollectionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.AddItemsRequest,
      xmodal.v1.CollectionOuterClass.AddItemsResponse> getAddItemsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "AddItems",
      requestType = xmodal.v1.CollectionOuterClass.AddItemsRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.AddItemsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.AddItemsRequest,
      xmodal.v1.CollectionOuterClass.AddItemsResponse> getAddItemsMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.AddItemsRequest, xmodal.v1.CollectionOuterClass.AddItemsResponse> getAddItemsMethod;
    if ((getAddItemsMethod = CollectionServiceGrpc.getAddItemsMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getAddItemsMethod = CollectionServiceGrpc.getAddItemsMethod) == null) {
          CollectionServiceGrpc.getAddItemsMethod = getAddItemsMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.AddItemsRequest, xmodal.v1.CollectionOuterClass.AddItemsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "AddItems"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.AddItemsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.AddItemsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("AddItems"))
              .build();
        }
      }
    }
    return getAddItemsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteItemsRequest,
      xmodal.v1.CollectionOuterClass.DeleteItemsResponse> getDeleteItemsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteItems",
      requestType = xmodal.v1.CollectionOuterClass.DeleteItemsRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.DeleteItemsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteItemsRequest,
      xmodal.v1.CollectionOuterClass.DeleteItemsResponse> getDeleteItemsMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.DeleteItemsRequest, xmodal.v1.CollectionOuterClass.DeleteItemsResponse> getDeleteItemsMethod;
    if ((getDeleteItemsMethod = CollectionServiceGrpc.getDeleteItemsMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getDeleteItemsMethod = CollectionServiceGrpc.getDeleteItemsMethod) == null) {
          CollectionServiceGrpc.getDeleteItemsMethod = getDeleteItemsMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.DeleteItemsRequest, xmodal.v1.CollectionOuterClass.DeleteItemsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteItems"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.DeleteItemsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.DeleteItemsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("DeleteItems"))
              .build();
        }
      }
    }
    return getDeleteItemsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetItemsRequest,
      xmodal.v1.CollectionOuterClass.GetItemsResponse> getGetItemsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetItems",
      requestType = xmodal.v1.CollectionOuterClass.GetItemsRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.GetItemsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetItemsRequest,
      xmodal.v1.CollectionOuterClass.GetItemsResponse> getGetItemsMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetItemsRequest, xmodal.v1.CollectionOuterClass.GetItemsResponse> getGetItemsMethod;
    if ((getGetItemsMethod = CollectionServiceGrpc.getGetItemsMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getGetItemsMethod = CollectionServiceGrpc.getGetItemsMethod) == null) {
          CollectionServiceGrpc.getGetItemsMethod = getGetItemsMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.GetItemsRequest, xmodal.v1.CollectionOuterClass.GetItemsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetItems"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.GetItemsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.GetItemsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("GetItems"))
              .build();
        }
      }
    }
    return getGetItemsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ReindexCollectionRequest,
      xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> getReindexCollectionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReindexCollection",
      requestType = xmodal.v1.CollectionOuterClass.ReindexCollectionRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.ReindexCollectionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ReindexCollectionRequest,
      xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> getReindexCollectionMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.ReindexCollectionRequest, xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> getReindexCollectionMethod;
    if ((getReindexCollectionMethod = CollectionServiceGrpc.getReindexCollectionMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getReindexCollectionMethod = CollectionServiceGrpc.getReindexCollectionMethod) == null) {
          CollectionServiceGrpc.getReindexCollectionMethod = getReindexCollectionMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.ReindexCollectionRequest, xmodal.v1.CollectionOuterClass.ReindexCollectionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReindexCollection"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.ReindexCollectionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.ReindexCollectionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("ReindexCollection"))
              .build();
        }
      }
    }
    return getReindexCollectionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetCollectionRequest,
      xmodal.v1.CollectionOuterClass.GetCollectionResponse> getGetCollectionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "GetCollection",
      requestType = xmodal.v1.CollectionOuterClass.GetCollectionRequest.class,
      responseType = xmodal.v1.CollectionOuterClass.GetCollectionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetCollectionRequest,
      xmodal.v1.CollectionOuterClass.GetCollectionResponse> getGetCollectionMethod() {
    io.grpc.MethodDescriptor<xmodal.v1.CollectionOuterClass.GetCollectionRequest, xmodal.v1.CollectionOuterClass.GetCollectionResponse> getGetCollectionMethod;
    if ((getGetCollectionMethod = CollectionServiceGrpc.getGetCollectionMethod) == null) {
      synchronized (CollectionServiceGrpc.class) {
        if ((getGetCollectionMethod = CollectionServiceGrpc.getGetCollectionMethod) == null) {
          CollectionServiceGrpc.getGetCollectionMethod = getGetCollectionMethod =
              io.grpc.MethodDescriptor.<xmodal.v1.CollectionOuterClass.GetCollectionRequest, xmodal.v1.CollectionOuterClass.GetCollectionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "GetCollection"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.GetCollectionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  xmodal.v1.CollectionOuterClass.GetCollectionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CollectionServiceMethodDescriptorSupplier("GetCollection"))
              .build();
        }
      }
    }
    return getGetCollectionMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static CollectionServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CollectionServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CollectionServiceStub>() {
        @java.lang.Override
        public CollectionServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CollectionServiceStub(channel, callOptions);
        }
      };
    return CollectionServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static CollectionServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CollectionServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CollectionServiceBlockingStub>() {
        @java.lang.Override
        public CollectionServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CollectionServiceBlockingStub(channel, callOptions);
        }
      };
    return CollectionServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static CollectionServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CollectionServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CollectionServiceFutureStub>() {
        @java.lang.Override
        public CollectionServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CollectionServiceFutureStub(channel, callOptions);
        }
      };
    return CollectionServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * Named collections of items, each with its own persisted vector index.
   * </pre>
   */
  public static abstract class CollectionServiceImplBase implements io.grpc.BindableService {

    /**
     */
    public void createCollection(xmodal.v1.CollectionOuterClass.CreateCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.CreateCollectionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateCollectionMethod(), responseObserver);
    }

    /**
     */
    public void listCollections(xmodal.v1.CollectionOuterClass.ListCollectionsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ListCollectionsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListCollectionsMethod(), responseObserver);
    }

    /**
     */
    public void deleteCollection(xmodal.v1.CollectionOuterClass.DeleteCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteCollectionMethod(), responseObserver);
    }

    /**
     * <pre>
     * Embeds and stores items. All or nothing: if any item is bad, nothing is written.
     * Returns only after the items are durable on disk.
     * </pre>
     */
    public void addItems(xmodal.v1.CollectionOuterClass.AddItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.AddItemsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getAddItemsMethod(), responseObserver);
    }

    /**
     */
    public void deleteItems(xmodal.v1.CollectionOuterClass.DeleteItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteItemsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteItemsMethod(), responseObserver);
    }

    /**
     */
    public void getItems(xmodal.v1.CollectionOuterClass.GetItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetItemsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetItemsMethod(), responseObserver);
    }

    /**
     * <pre>
     * Re-embeds every item from its stored payload in the server's current space (after a checkpoint or
     * profile change); the collection is swapped atomically when done. Fails with FAILED_PRECONDITION
     * when the collection holds precomputed vectors, which cannot be re-embedded.
     * </pre>
     */
    public void reindexCollection(xmodal.v1.CollectionOuterClass.ReindexCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReindexCollectionMethod(), responseObserver);
    }

    /**
     * <pre>
     * One collection: its description, index and item count.
     * </pre>
     */
    public void getCollection(xmodal.v1.CollectionOuterClass.GetCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetCollectionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getGetCollectionMethod(), responseObserver);
    }

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
          .addMethod(
            getCreateCollectionMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.CreateCollectionRequest,
                xmodal.v1.CollectionOuterClass.CreateCollectionResponse>(
                  this, METHODID_CREATE_COLLECTION)))
          .addMethod(
            getListCollectionsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.ListCollectionsRequest,
                xmodal.v1.CollectionOuterClass.ListCollectionsResponse>(
                  this, METHODID_LIST_COLLECTIONS)))
          .addMethod(
            getDeleteCollectionMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.DeleteCollectionRequest,
                xmodal.v1.CollectionOuterClass.DeleteCollectionResponse>(
                  this, METHODID_DELETE_COLLECTION)))
          .addMethod(
            getAddItemsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.AddItemsRequest,
                xmodal.v1.CollectionOuterClass.AddItemsResponse>(
                  this, METHODID_ADD_ITEMS)))
          .addMethod(
            getDeleteItemsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.DeleteItemsRequest,
                xmodal.v1.CollectionOuterClass.DeleteItemsResponse>(
                  this, METHODID_DELETE_ITEMS)))
          .addMethod(
            getGetItemsMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.GetItemsRequest,
                xmodal.v1.CollectionOuterClass.GetItemsResponse>(
                  this, METHODID_GET_ITEMS)))
          .addMethod(
            getReindexCollectionMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.ReindexCollectionRequest,
                xmodal.v1.CollectionOuterClass.ReindexCollectionResponse>(
                  this, METHODID_REINDEX_COLLECTION)))
          .addMethod(
            getGetCollectionMethod(),
            io.grpc.stub.ServerCalls.asyncUnaryCall(
              new MethodHandlers<
                xmodal.v1.CollectionOuterClass.GetCollectionRequest,
                xmodal.v1.CollectionOuterClass.GetCollectionResponse>(
                  this, METHODID_GET_COLLECTION)))
          .build();
    }
  }

  /**
   * <pre>
   * Named collections of items, each with its own persisted vector index.
   * </pre>
   */
  public static final class CollectionServiceStub extends io.grpc.stub.AbstractAsyncStub<CollectionServiceStub> {
    private CollectionServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CollectionServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CollectionServiceStub(channel, callOptions);
    }

    /**
     */
    public void createCollection(xmodal.v1.CollectionOuterClass.CreateCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.CreateCollectionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateCollectionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void listCollections(xmodal.v1.CollectionOuterClass.ListCollectionsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ListCollectionsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListCollectionsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void deleteCollection(xmodal.v1.CollectionOuterClass.DeleteCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteCollectionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Embeds and stores items. All or nothing: if any item is bad, nothing is written.
     * Returns only after the items are durable on disk.
     * </pre>
     */
    public void addItems(xmodal.v1.CollectionOuterClass.AddItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.AddItemsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getAddItemsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void deleteItems(xmodal.v1.CollectionOuterClass.DeleteItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteItemsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteItemsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     */
    public void getItems(xmodal.v1.CollectionOuterClass.GetItemsRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetItemsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetItemsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * Re-embeds every item from its stored payload in the server's current space (after a checkpoint or
     * profile change); the collection is swapped atomically when done. Fails with FAILED_PRECONDITION
     * when the collection holds precomputed vectors, which cannot be re-embedded.
     * </pre>
     */
    public void reindexCollection(xmodal.v1.CollectionOuterClass.ReindexCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReindexCollectionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * One collection: its description, index and item count.
     * </pre>
     */
    public void getCollection(xmodal.v1.CollectionOuterClass.GetCollectionRequest request,
        io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetCollectionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getGetCollectionMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * <pre>
   * Named collections of items, each with its own persisted vector index.
   * </pre>
   */
  public static final class CollectionServiceBlockingStub extends io.grpc.stub.AbstractBlockingStub<CollectionServiceBlockingStub> {
    private CollectionServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CollectionServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CollectionServiceBlockingStub(channel, callOptions);
    }

    /**
     */
    public xmodal.v1.CollectionOuterClass.CreateCollectionResponse createCollection(xmodal.v1.CollectionOuterClass.CreateCollectionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateCollectionMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.CollectionOuterClass.ListCollectionsResponse listCollections(xmodal.v1.CollectionOuterClass.ListCollectionsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListCollectionsMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.CollectionOuterClass.DeleteCollectionResponse deleteCollection(xmodal.v1.CollectionOuterClass.DeleteCollectionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteCollectionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Embeds and stores items. All or nothing: if any item is bad, nothing is written.
     * Returns only after the items are durable on disk.
     * </pre>
     */
    public xmodal.v1.CollectionOuterClass.AddItemsResponse addItems(xmodal.v1.CollectionOuterClass.AddItemsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getAddItemsMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.CollectionOuterClass.DeleteItemsResponse deleteItems(xmodal.v1.CollectionOuterClass.DeleteItemsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteItemsMethod(), getCallOptions(), request);
    }

    /**
     */
    public xmodal.v1.CollectionOuterClass.GetItemsResponse getItems(xmodal.v1.CollectionOuterClass.GetItemsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetItemsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * Re-embeds every item from its stored payload in the server's current space (after a checkpoint or
     * profile change); the collection is swapped atomically when done. Fails with FAILED_PRECONDITION
     * when the collection holds precomputed vectors, which cannot be re-embedded.
     * </pre>
     */
    public xmodal.v1.CollectionOuterClass.ReindexCollectionResponse reindexCollection(xmodal.v1.CollectionOuterClass.ReindexCollectionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReindexCollectionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * One collection: its description, index and item count.
     * </pre>
     */
    public xmodal.v1.CollectionOuterClass.GetCollectionResponse getCollection(xmodal.v1.CollectionOuterClass.GetCollectionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getGetCollectionMethod(), getCallOptions(), request);
    }
  }

  /**
   * <pre>
   * Named collections of items, each with its own persisted vector index.
   * </pre>
   */
  public static final class CollectionServiceFutureStub extends io.grpc.stub.AbstractFutureStub<CollectionServiceFutureStub> {
    private CollectionServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CollectionServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CollectionServiceFutureStub(channel, callOptions);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.CreateCollectionResponse> createCollection(
        xmodal.v1.CollectionOuterClass.CreateCollectionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateCollectionMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.ListCollectionsResponse> listCollections(
        xmodal.v1.CollectionOuterClass.ListCollectionsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListCollectionsMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.DeleteCollectionResponse> deleteCollection(
        xmodal.v1.CollectionOuterClass.DeleteCollectionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteCollectionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Embeds and stores items. All or nothing: if any item is bad, nothing is written.
     * Returns only after the items are durable on disk.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.AddItemsResponse> addItems(
        xmodal.v1.CollectionOuterClass.AddItemsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getAddItemsMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.DeleteItemsResponse> deleteItems(
        xmodal.v1.CollectionOuterClass.DeleteItemsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteItemsMethod(), getCallOptions()), request);
    }

    /**
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.GetItemsResponse> getItems(
        xmodal.v1.CollectionOuterClass.GetItemsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetItemsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * Re-embeds every item from its stored payload in the server's current space (after a checkpoint or
     * profile change); the collection is swapped atomically when done. Fails with FAILED_PRECONDITION
     * when the collection holds precomputed vectors, which cannot be re-embedded.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.ReindexCollectionResponse> reindexCollection(
        xmodal.v1.CollectionOuterClass.ReindexCollectionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReindexCollectionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * One collection: its description, index and item count.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<xmodal.v1.CollectionOuterClass.GetCollectionResponse> getCollection(
        xmodal.v1.CollectionOuterClass.GetCollectionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getGetCollectionMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CREATE_COLLECTION = 0;
  private static final int METHODID_LIST_COLLECTIONS = 1;
  private static final int METHODID_DELETE_COLLECTION = 2;
  private static final int METHODID_ADD_ITEMS = 3;
  private static final int METHODID_DELETE_ITEMS = 4;
  private static final int METHODID_GET_ITEMS = 5;
  private static final int METHODID_REINDEX_COLLECTION = 6;
  private static final int METHODID_GET_COLLECTION = 7;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final CollectionServiceImplBase serviceImpl;
    private final int methodId;

    MethodHandlers(CollectionServiceImplBase serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_CREATE_COLLECTION:
          serviceImpl.createCollection((xmodal.v1.CollectionOuterClass.CreateCollectionRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.CreateCollectionResponse>) responseObserver);
          break;
        case METHODID_LIST_COLLECTIONS:
          serviceImpl.listCollections((xmodal.v1.CollectionOuterClass.ListCollectionsRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ListCollectionsResponse>) responseObserver);
          break;
        case METHODID_DELETE_COLLECTION:
          serviceImpl.deleteCollection((xmodal.v1.CollectionOuterClass.DeleteCollectionRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteCollectionResponse>) responseObserver);
          break;
        case METHODID_ADD_ITEMS:
          serviceImpl.addItems((xmodal.v1.CollectionOuterClass.AddItemsRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.AddItemsResponse>) responseObserver);
          break;
        case METHODID_DELETE_ITEMS:
          serviceImpl.deleteItems((xmodal.v1.CollectionOuterClass.DeleteItemsRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.DeleteItemsResponse>) responseObserver);
          break;
        case METHODID_GET_ITEMS:
          serviceImpl.getItems((xmodal.v1.CollectionOuterClass.GetItemsRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetItemsResponse>) responseObserver);
          break;
        case METHODID_REINDEX_COLLECTION:
          serviceImpl.reindexCollection((xmodal.v1.CollectionOuterClass.ReindexCollectionRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.ReindexCollectionResponse>) responseObserver);
          break;
        case METHODID_GET_COLLECTION:
          serviceImpl.getCollection((xmodal.v1.CollectionOuterClass.GetCollectionRequest) request,
              (io.grpc.stub.StreamObserver<xmodal.v1.CollectionOuterClass.GetCollectionResponse>) responseObserver);
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

  private static abstract class CollectionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    CollectionServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return xmodal.v1.CollectionOuterClass.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("CollectionService");
    }
  }

  private static final class CollectionServiceFileDescriptorSupplier
      extends CollectionServiceBaseDescriptorSupplier {
    CollectionServiceFileDescriptorSupplier() {}
  }

  private static final class CollectionServiceMethodDescriptorSupplier
      extends CollectionServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final String methodName;

    CollectionServiceMethodDescriptorSupplier(String methodName) {
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
      synchronized (CollectionServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new CollectionServiceFileDescriptorSupplier())
              .addMethod(getCreateCollectionMethod())
              .addMethod(getListCollectionsMethod())
              .addMethod(getDeleteCollectionMethod())
              .addMethod(getAddItemsMethod())
              .addMethod(getDeleteItemsMethod())
              .addMethod(getGetItemsMethod())
              .addMethod(getReindexCollectionMethod())
              .addMethod(getGetCollectionMethod())
              .build();
        }
      }
    }
    return result;
  }
}
