package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.agentapi.AgentApi;
import dev.tollgate.proxy.agentapi.AgentRequest;
import dev.tollgate.proxy.http.OpenAiError;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.ReferenceCountUtil;
import java.io.IOException;
import java.util.ArrayDeque;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Last handler of a client connection: checks each request (key, route, body), then runs one
 * {@link Exchange} at a time. Pipelined requests wait in a queue and are answered in order; when
 * {@value #MAX_WAITING} wait, or their bodies add up to one maximal request body, reading pauses until the queue
 * drains (requests already read are still queued, never refused).
 *
 * <p>Threading: one instance per connection, confined to its event loop.
 */
final class ClientConnectionHandler extends ChannelInboundHandlerAdapter {
    private static final Logger LOG = Logger.getLogger(ClientConnectionHandler.class.getName());
    /** Pipelined requests waiting for the current exchange before reads pause. */
    static final int MAX_WAITING = 16;

    private final ProxyServices services;
    private ChannelHandlerContext ctx;
    private Exchange current;
    private boolean viewPending;
    private final ArrayDeque<FullHttpRequest> waiting = new ArrayDeque<>();
    private long waitingBodyBytes;

    ClientConnectionHandler(ProxyServices services) {
        this.services = services;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof FullHttpRequest req)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (current != null || viewPending || !waiting.isEmpty()) {
            waiting.addLast(req);
            waitingBodyBytes += req.content().readableBytes();
            if (queueFull()) {
                ctx.channel().config().setAutoRead(false);
            }
            return;
        }
        begin(req);
    }

    private void begin(FullHttpRequest req) {
        RequestDeadline deadline = ctx.pipeline().get(RequestDeadline.class);
        if (deadline != null) {
            deadline.requestReceived();
        }
        long startNanos = System.nanoTime();
        long startMillis = System.currentTimeMillis();
        String requestId = services.requestIds().next();
        if (req.decoderResult().isFailure()) {
            Throwable cause = req.decoderResult().cause();
            HttpResponseStatus st = cause instanceof TooLongHttpHeaderException
                    ? HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
                    : cause instanceof TooLongHttpLineException ? HttpResponseStatus.REQUEST_URI_TOO_LONG
                    : HttpResponseStatus.BAD_REQUEST;
            reject(req, requestId, st, "Malformed HTTP request: " + st.reasonPhrase() + ".", null, null, true);
            return;
        }
        RequestPath target;
        try {
            target = RequestPath.of(req.method(), req.uri());
        } catch (RequestPath.Refused e) {
            LocalReply.error(ctx, req, requestId, e.status(), e.getMessage(), "invalid_request_error", null, e.code());
            return;
        }
        // Route on the canonical path and send the upstream exactly that: what is metered is what is generated.
        req.setUri(target.upstreamUri());
        String path = target.path();
        ProtocolRoute protocol = services.protocolFor(path);
        if (protocol != null) {
            answerProtocol(protocol, req, requestId, path);
            return;
        }
        var settlementConfig = services.settlement() == null ? null : services.settlement().config();
        RoutePolicy.Decision routing = RoutePolicy.classify(req.method(), path, settlementConfig);
        Route route = routing.route();
        String account = services.apiKeys().accountFor(req.headers().get(HttpHeaderNames.AUTHORIZATION));
        if (account == null) {
            reject(req, requestId, HttpResponseStatus.UNAUTHORIZED,
                    "Incorrect API key provided.", "invalid_api_key", route, false);
            return;
        }
        boolean agentApi = AgentApi.handles(path);
        if (path.startsWith(AccountView.PREFIX) || agentApi) {
            // The view may read the journal (JDBC): never on the event loop. Later pipelined requests wait.
            // The agent API (escrows) answers the same way, its ledger work on its own thread.
            boolean keepAlive = HttpUtil.isKeepAlive(req);
            HttpMethod method = req.method();
            AgentRequest agentRequest = agentApi
                    ? AgentRequest.of(req, path, target.upstreamUri(), account, requestId) : null;
            req.release();
            viewPending = true;
            java.util.function.Consumer<FullHttpResponse> answered = view -> {
                        viewPending = false;
                        if (!ctx.channel().isActive()) {
                            view.release();
                            releaseWaiting();
                            return;
                        }
                        HttpUtil.setKeepAlive(view, keepAlive);
                        var f = ctx.writeAndFlush(view);
                        if (!keepAlive) {
                            f.addListener(ChannelFutureListener.CLOSE);
                            releaseWaiting();
                            return;
                        }
                        resumeWaiting();
                    };
            if (agentApi) {
                services.agentApi().answerAsync(agentRequest, ctx.alloc(), ctx.executor(), answered);
            } else {
                AccountView.answerAsync(services, account, method, path, requestId, ctx.alloc(), ctx.executor(),
                        answered);
            }
            return;
        }
        if (routing.treatment() == RoutePolicy.Treatment.UNMETERED
                && !RoutePolicy.passesUnmetered(settlementConfig, account)) {
            LocalReply.error(ctx, req, requestId, HttpResponseStatus.FORBIDDEN,
                    RoutePolicy.deniedMessage(req.method(), path, account), "permission_error", null, "unmetered_route");
            return;
        }
        MeteredRequest metered = null;
        byte[] body = null;
        if (route != null) {
            body = ByteBufUtil.getBytes(req.content());
            try {
                metered = route == Route.PER_REQUEST ? MeteredRequest.perRequest(path) : MeteredRequest.parse(route, body);
            } catch (MeteredRequest.Invalid e) {
                reject(req, requestId, HttpResponseStatus.BAD_REQUEST, e.getMessage(), e.param(), route, false);
                return;
            }
        }
        current = new Exchange(services, this, ctx, requestId, account, req, metered, body, startNanos, startMillis);
        current.start();
    }

    /**
     * Hands a request to the protocol that owns its path (an upstream kind with its own API, such as RunPod jobs);
     * later pipelined requests wait for its reply, as for the account view.
     */
    private void answerProtocol(ProtocolRoute protocol, FullHttpRequest req, String requestId, String path) {
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        java.util.Map<String, String> headers = new java.util.HashMap<>();
        for (var h : req.headers()) {
            headers.putIfAbsent(h.getKey().toLowerCase(java.util.Locale.ROOT), h.getValue());
        }
        int q = req.uri().indexOf('?');
        var call = new ProtocolRoute.Call(requestId, req.method().name(), path,
                q < 0 ? "" : req.uri().substring(q + 1), headers, ByteBufUtil.getBytes(req.content()));
        req.release();
        viewPending = true;
        protocol.handle(call).whenComplete((reply, error) -> ctx.executor().execute(() -> {
            viewPending = false;
            if (!ctx.channel().isActive()) {
                releaseWaiting();
                return;
            }
            FullHttpResponse r;
            if (reply == null) {
                LOG.log(Level.WARNING, "protocol failed for " + requestId, error);
                r = OpenAiError.response(ctx.alloc(), HttpResponseStatus.INTERNAL_SERVER_ERROR, requestId,
                        "Tollgate could not answer this request.", "server_error", null, null);
            } else {
                r = new io.netty.handler.codec.http.DefaultFullHttpResponse(
                        io.netty.handler.codec.http.HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(reply.status()),
                        ctx.alloc().buffer(reply.body().length).writeBytes(reply.body()));
                for (var h : reply.headers().entrySet()) {
                    r.headers().set(h.getKey(), h.getValue());
                }
                r.headers().set(HttpHeaderNames.CONTENT_TYPE, reply.contentType());
                r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, reply.body().length);
                r.headers().set(OpenAiError.REQUEST_ID_HEADER, requestId);
            }
            HttpUtil.setKeepAlive(r, keepAlive);
            var f = ctx.writeAndFlush(r);
            if (!keepAlive) {
                f.addListener(ChannelFutureListener.CLOSE);
                releaseWaiting();
                return;
            }
            resumeWaiting();
        }));
    }

    /** Answers a request Tollgate refuses itself; metered routes still get a usage record. */
    private void reject(FullHttpRequest req, String requestId, HttpResponseStatus status, String message,
                        String param, Route route, boolean close) {
        boolean keepAlive = !close && HttpUtil.isKeepAlive(req);
        if (route != null) {
            services.metering().submit(new UsageRecord(requestId, "anonymous", "", "", route, false, 0, 0,
                    UsageSource.NONE, -1, System.currentTimeMillis(), -1, 0, -1, -1, Outcome.REJECTED,
                    status.code()));
        }
        req.release();
        String type = "invalid_request_error";
        String code = status.code() == 401 ? "invalid_api_key" : null;
        FullHttpResponse r = OpenAiError.response(ctx.alloc(), status, requestId, message, type,
                status.code() == 401 ? null : param, code);
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    /** Called by the exchange when it has ended; starts the request that waited, if any. */
    void exchangeEnded(Exchange exchange, boolean clientGone) {
        if (current != exchange) {
            return;
        }
        current = null;
        RequestDeadline deadline = ctx.pipeline().get(RequestDeadline.class);
        if (deadline != null) {
            deadline.responseSent();
        }
        if (clientGone || !ctx.channel().isActive()) {
            releaseWaiting();
            return;
        }
        resumeWaiting();
    }

    /** Starts waiting requests: those answered locally end at once, so go on until one starts an exchange. */
    private void resumeWaiting() {
        while (current == null && !viewPending && !waiting.isEmpty()) {
            begin(nextWaiting());
        }
        if (!queueFull() && ctx.channel().isActive()) {
            ctx.channel().config().setAutoRead(true);
        }
    }

    private boolean queueFull() {
        return waiting.size() >= MAX_WAITING || waitingBodyBytes >= services.limits().maxRequestBodyBytes();
    }

    private FullHttpRequest nextWaiting() {
        FullHttpRequest r = waiting.pollFirst();
        waitingBodyBytes -= r.content().readableBytes();
        return r;
    }

    private void releaseWaiting() {
        while (!waiting.isEmpty()) {
            nextWaiting().release();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (current != null) {
            current.onClientWritabilityChanged();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        releaseWaiting();
        if (current != null) {
            current.onClientClosed();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof IdleStateEvent) {
            // Idle with no exchange: close. Idle while an exchange waits on this client's writability: stalled.
            if (current == null) {
                ctx.close();
            } else {
                current.onClientIdle();
            }
            return;
        }
        ReferenceCountUtil.release(evt);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        if (!(cause instanceof IOException)) {
            LOG.log(Level.FINE, "client connection failed", cause);
        }
        ctx.close();
    }
}
