package dev.tollgate.simulator;

import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOption;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Answers one connection's requests like vLLM's OpenAI server. One response at a time per connection.
 *
 * <p>Threading: one instance per connection, confined to its event loop.
 */
final class SimulatorHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private final SimulatorConfig cfg;
    private final AtomicLong served;
    private SimulatedStream job;

    SimulatorHandler(SimulatorConfig cfg, AtomicLong served) {
        this.cfg = cfg;
        this.served = served;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        served.incrementAndGet();
        String path = req.uri().split("\\?", 2)[0];
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        if (req.method().equals(HttpMethod.GET)) {
            switch (path) {
                case "/health" -> json(ctx, HttpResponseStatus.OK, "", keepAlive);
                case "/v1/models" -> json(ctx, HttpResponseStatus.OK, models(), keepAlive);
                default -> notFound(ctx, path, keepAlive);
            }
            return;
        }
        if (req.method().equals(HttpMethod.POST)
                && (path.equals("/v1/audio/transcriptions") || path.equals("/v1/audio/translations"))) {
            // Audio routes are priced per request; the body (multipart audio) is not read.
            json(ctx, HttpResponseStatus.OK, "{\"text\":\"simulated transcription of "
                    + req.content().readableBytes() + " bytes\",\"usage\":{\"type\":\"duration\",\"seconds\":1}}",
                    keepAlive);
            return;
        }
        SimulatedCompletion.Kind kind = switch (path) {
            case "/v1/chat/completions" -> SimulatedCompletion.Kind.CHAT;
            case "/v1/completions" -> SimulatedCompletion.Kind.COMPLETION;
            case "/v1/embeddings" -> SimulatedCompletion.Kind.EMBEDDING;
            case "/v1/responses" -> SimulatedCompletion.Kind.RESPONSE;
            default -> null;
        };
        if (kind == null || !req.method().equals(HttpMethod.POST)) {
            notFound(ctx, path, keepAlive);
            return;
        }
        FaultPlan fault;
        try {
            String spec = req.headers().get("x-sim-fault");
            fault = FaultPlan.parse(spec != null ? spec : cfg.defaultFault());
        } catch (IllegalArgumentException e) {
            badRequest(ctx, e.getMessage(), "x-sim-fault", keepAlive);
            return;
        }
        switch (fault.kind()) {
            case RESET_BEFORE_HEADERS -> {
                ctx.channel().config().setOption(ChannelOption.SO_LINGER, 0);
                ctx.close();
                return;
            }
            case STALL_BEFORE_HEADERS -> {
                return;
            }
            case STATUS -> {
                HttpResponseStatus st = HttpResponseStatus.valueOf(fault.value());
                json(ctx, st, ChunkFormat.error("Simulated failure", st.code() >= 500 ? "InternalServerError"
                        : "BadRequestError", null, st.code()), keepAlive);
                return;
            }
            default -> {
            }
        }
        long forced = -1;
        String forcedHeader = req.headers().get("x-sim-completion-tokens");
        if (forcedHeader != null) {
            try {
                forced = Long.parseLong(forcedHeader.trim());
            } catch (NumberFormatException e) {
                badRequest(ctx, "x-sim-completion-tokens must be a number", null, keepAlive);
                return;
            }
        }
        SimulatedCompletion sc;
        try {
            sc = SimulatedCompletion.of(kind, ByteBufUtil.getBytes(req.content()), forced);
        } catch (IllegalArgumentException e) {
            badRequest(ctx, e.getMessage(), null, keepAlive);
            return;
        }
        String model = sc.model(cfg.model());
        if (!model.equals(cfg.model())) {
            json(ctx, HttpResponseStatus.NOT_FOUND, ChunkFormat.error("The model `" + model + "` does not exist.",
                    "NotFoundError", "model", 404), keepAlive);
            return;
        }
        if (kind != SimulatedCompletion.Kind.RESPONSE && sc.hasStreamOptions() && !sc.stream()) {
            badRequest(ctx, "Stream options can only be defined when `stream=True`.", "stream_options", keepAlive);
            return;
        }
        String id = (switch (kind) {
            case CHAT -> "chatcmpl-";
            case COMPLETION -> "cmpl-";
            case RESPONSE -> "resp_";
            default -> "embd-";
        }) + Long.toHexString(sc.seed);
        long created = System.currentTimeMillis() / 1000;
        if (kind == SimulatedCompletion.Kind.EMBEDDING) {
            json(ctx, HttpResponseStatus.OK, FullBodies.embeddings(sc, id, created, model), keepAlive);
        } else if (kind == SimulatedCompletion.Kind.RESPONSE && !sc.stream()) {
            json(ctx, HttpResponseStatus.OK, ResponsesFormat.body(sc, id, created, model), keepAlive);
        } else if (!sc.stream()) {
            json(ctx, HttpResponseStatus.OK, FullBodies.completion(sc, id, created, model), keepAlive);
        } else {
            HttpResponse head = new DefaultHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.OK);
            head.headers().set(HttpHeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
            HttpUtil.setTransferEncodingChunked(head, true);
            HttpUtil.setKeepAlive(head, keepAlive);
            ctx.write(head, ctx.voidPromise());
            Runnable onEnd = () -> {
                job = null;
                if (!keepAlive) {
                    ctx.close();
                }
            };
            if (kind == SimulatedCompletion.Kind.RESPONSE) {
                ResponsesStreamJob rj = new ResponsesStreamJob(ctx.channel(), sc, cfg, fault, id, created, onEnd);
                job = rj;
                rj.start();
            } else {
                StreamJob sj = new StreamJob(ctx.channel(), sc, cfg, fault, id, created, onEnd);
                job = sj;
                sj.start();
            }
        }
    }

    private String models() {
        long created = System.currentTimeMillis() / 1000;
        String m = ChunkFormat.quote(cfg.model());
        return "{\"object\":\"list\",\"data\":[{\"id\":" + m + ",\"object\":\"model\",\"created\":" + created
                + ",\"owned_by\":\"vllm\",\"root\":" + m + ",\"parent\":null,\"max_model_len\":32768,\"permission\":[]}]}";
    }

    private void notFound(ChannelHandlerContext ctx, String path, boolean keepAlive) {
        json(ctx, HttpResponseStatus.NOT_FOUND, ChunkFormat.error("Not Found: " + path, "Not Found", null, 404), keepAlive);
    }

    private void badRequest(ChannelHandlerContext ctx, String message, String param, boolean keepAlive) {
        json(ctx, HttpResponseStatus.BAD_REQUEST, ChunkFormat.error(message, "BadRequestError", param, 400), keepAlive);
    }

    private void json(ChannelHandlerContext ctx, HttpResponseStatus status, String body, boolean keepAlive) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status,
                ByteBufUtil.writeUtf8(ctx.alloc(), body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, "application/json");
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        if (job != null) {
            job.onWritable();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (job != null) {
            job.cancel();
            job = null;
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
