package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.UsageSource;
import dev.tollgate.proxy.http.HopByHopHeaders;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.proxy.upstream.Upstream;
import dev.tollgate.proxy.upstream.UpstreamEvents;
import dev.tollgate.proxy.upstream.UpstreamRelayHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One request relayed to an upstream and its response relayed back, with metering.
 *
 * <p>The response is never buffered: each upstream read is forwarded as it arrives, the upstream is read
 * again only while the client is writable, and the metering tap reads bytes without moving them. Only when
 * the client must not see injected usage does the relay hold back the bytes of the one SSE event in progress.
 *
 * <p>Threading: confined to the client channel's event loop; the upstream connection uses the same loop.
 */
final class Exchange implements UpstreamEvents {
    private static final Logger LOG = Logger.getLogger(Exchange.class.getName());

    private final ProxyServices services;
    private final ClientConnectionHandler owner;
    private final ChannelHandlerContext client;
    private final String requestId;
    private final String account;
    private final FullHttpRequest request;
    private final MeteredRequest metered;
    private final byte[] originalBody;
    private final long startNanos;
    private final long startMillis;
    private final StreamMeter meter;
    private final List<Upstream> tried = new ArrayList<>(2);

    private Upstream upstream;
    private boolean holdsUpstreamSlot;
    private Channel upstreamChannel;
    private long requestSentNanos = -1;
    private long upstreamEndNanos = -1;
    private int status;
    private boolean responseStarted;
    private boolean eventStream;
    private boolean filtering;
    private boolean upstreamKeepAlive;
    private boolean awaitingWritability;
    private boolean upstreamDone;
    private boolean finished;
    private boolean recordSubmitted;
    private boolean doneSeen;
    private ByteBuf tail;
    private HttpContent tailContent;
    private boolean streamCounted;
    private ByteBuf held;
    private long heldStart;
    private long bodyPos;
    private ByteBuf out;

    Exchange(ProxyServices services, ClientConnectionHandler owner, ChannelHandlerContext client, String requestId,
             String account, FullHttpRequest request, MeteredRequest metered, byte[] originalBody,
             long startNanos, long startMillis) {
        this.services = services;
        this.owner = owner;
        this.client = client;
        this.requestId = requestId;
        this.account = account;
        this.request = request;
        this.metered = metered;
        this.originalBody = originalBody;
        this.startNanos = startNanos;
        this.startMillis = startMillis;
        if (metered != null) {
            this.meter = new StreamMeter();
            this.meter.reset(metered.route(), metered.clientWantsUsage(), metered.clientWantsContinuous());
        } else {
            this.meter = null;
        }
    }

    /** Picks an upstream, asks the admission gate, then connects. Takes ownership of the request. */
    void start() {
        upstream = services.upstreams().acquire(tried, System.nanoTime());
        if (upstream == null) {
            failBeforeUpstream(HttpResponseStatus.BAD_GATEWAY, "No upstream is configured.", Outcome.UPSTREAM_UNREACHABLE);
            return;
        }
        holdsUpstreamSlot = true;
        tried.add(upstream);
        if (metered == null) {
            connect();
            return;
        }
        // The lock's prompt part is bounded by the body's size: a byte-level BPE token covers at least one byte of
        // text, and the JSON around the text outweighs the chat template's few tokens per message. Tokenizing
        // here would put a 4 MB prompt's 0.4 s on the event loop.
        long promptBound = originalBody.length;
        var decision = services.admission().admit(requestId, account, upstream.worker(), metered.model(),
                () -> promptBound, metered.maxTokens(), metered.choices()).toCompletableFuture();
        if (decision.isDone() && !decision.isCompletedExceptionally()) {
            onAdmission(decision.getNow(null), null);
        } else {
            decision.whenComplete((d, error) -> client.executor().execute(() -> onAdmission(d, error)));
        }
    }

    private void onAdmission(AdmissionGate.Decision decision, Throwable error) {
        if (finished) {
            return;
        }
        if (error != null) {
            LOG.log(Level.WARNING, "admission failed for " + requestId, error);
            failBeforeUpstream(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "Payment could not be arranged for this request; try again.", Outcome.PAYMENT_REQUIRED);
            return;
        }
        if (!decision.admitted() && decision.status() == 400) {
            releaseUpstreamSlot();
            status = 400;
            FullHttpResponse r = OpenAiError.response(client.alloc(), HttpResponseStatus.BAD_REQUEST, requestId,
                    decision.message(), "invalid_request_error", decision.param(), null);
            client.writeAndFlush(r).addListener((ChannelFutureListener) f ->
                    finish(f.isSuccess() ? Outcome.REJECTED : Outcome.CLIENT_DISCONNECTED));
            return;
        }
        if (!decision.admitted()) {
            failBeforeUpstream(HttpResponseStatus.PAYMENT_REQUIRED, decision.message(), Outcome.PAYMENT_REQUIRED);
            return;
        }
        connect();
    }

    private void connect() {
        if (finished) {
            return;
        }
        Future<Channel> f = services.connector().acquire(upstream, client.channel().eventLoop());
        f.addListener(done -> {
            if (finished) {
                if (done.isSuccess()) {
                    f.getNow().close();
                }
                return;
            }
            if (done.isSuccess()) {
                services.upstreams().connectSucceeded(upstream);
                send(f.getNow());
            } else {
                services.upstreams().connectFailed(upstream, System.nanoTime());
                releaseUpstreamSlot();
                // Nothing of this request reached the upstream: another one may take it.
                Upstream next = services.upstreams().acquire(tried, System.nanoTime());
                if (next != null) {
                    upstream = next;
                    holdsUpstreamSlot = true;
                }
                if (next == null) {
                    failBeforeUpstream(HttpResponseStatus.BAD_GATEWAY,
                            "The upstream inference server could not be reached.", Outcome.UPSTREAM_UNREACHABLE);
                } else {
                    tried.add(upstream);
                    connect();
                }
            }
        });
    }

    private void send(Channel ch) {
        upstreamChannel = ch;
        ch.pipeline().get(UpstreamRelayHandler.class).attach(this);
        ByteBuf body;
        if (metered != null) {
            byte[] b = metered.upstreamBody(originalBody, upstream.continuousUsage());
            body = Unpooled.wrappedBuffer(b);
        } else {
            body = request.content().retainedDuplicate();
        }
        DefaultFullHttpRequest up = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, request.method(),
                upstream.upstreamUri(request.uri()), body);
        HttpHeaders h = up.headers();
        h.set(request.headers());
        HopByHopHeaders.strip(h);
        h.remove(HttpHeaderNames.AUTHORIZATION);
        h.remove(HttpHeaderNames.EXPECT);
        h.remove(OpenAiError.REQUEST_ID_HEADER);
        h.set(HttpHeaderNames.HOST, upstream.authority());
        h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
        if (metered != null) {
            // The meter reads the body as it passes: ask for it uncompressed.
            h.set(HttpHeaderNames.ACCEPT_ENCODING, HttpHeaderValues.IDENTITY);
        }
        if (upstream.authorization() != null) {
            h.set(HttpHeaderNames.AUTHORIZATION, upstream.authorization());
        }
        requestSentNanos = System.nanoTime();
        ch.writeAndFlush(up).addListener((ChannelFutureListener) wf -> {
            if (!wf.isSuccess()) {
                wf.channel().close();
            }
        });
        ch.read();
    }

    // ---- upstream events ------------------------------------------------------------------------------

    @Override
    public void onUpstreamMessage(Object msg) {
        if (finished) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (msg instanceof HttpResponse head) {
            onResponseHead(head);
        }
        if (msg instanceof HttpContent content) {
            onContent(content);
        } else if (!(msg instanceof HttpResponse)) {
            ReferenceCountUtil.release(msg);
        }
    }

    private void onResponseHead(HttpResponse head) {
        long now = System.nanoTime();
        status = head.status().code();
        upstreamKeepAlive = HttpUtil.isKeepAlive(head);
        if (status == 100) {
            return;
        }
        String ct = head.headers().get(HttpHeaderNames.CONTENT_TYPE);
        eventStream = ct != null && ct.regionMatches(true, 0, "text/event-stream", 0, 17);
        HttpResponse toClient = new DefaultHttpResponse(HttpVersion.HTTP_1_1, head.status());
        HttpHeaders h = toClient.headers();
        h.set(head.headers());
        HopByHopHeaders.strip(h);
        h.set(OpenAiError.REQUEST_ID_HEADER, requestId);
        if (meter != null) {
            meter.onResponseStart(status, eventStream, now);
            // Metered streams are relayed event by event: injected usage can be hidden, and the terminating
            // [DONE] can wait until the usage record is journaled.
            filtering = eventStream;
            if (eventStream && !streamCounted) {
                streamCounted = true;
                services.metering().streamStarted();
            }
        }
        if (filtering || !h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
            h.remove(HttpHeaderNames.CONTENT_LENGTH);
            HttpUtil.setTransferEncodingChunked(toClient, true);
        }
        responseStarted = true;
        client.write(toClient, client.voidPromise());
    }

    private void onContent(HttpContent content) {
        if (status == 100) {
            content.release();
            return;
        }
        ByteBuf data = content.content();
        boolean last = content instanceof LastHttpContent;
        long now = System.nanoTime();
        HttpContent forward = content;
        if (meter != null) {
            if (filtering) {
                relayFiltered(data, now);
                content.release();
                forward = null;
                if (last) {
                    flushHeld();
                    forward = LastHttpContent.EMPTY_LAST_CONTENT;
                }
            } else {
                MeterTap.feed(meter, data, now, null);
                bodyPos += data.readableBytes();
            }
        }
        if (!last) {
            if (forward != null) {
                client.write(forward, client.voidPromise());
            }
            return;
        }
        upstreamEndNanos = now;
        upstreamDone = true;
        if (meter == null) {
            client.writeAndFlush(forward).addListener((ChannelFutureListener) f ->
                    finish(f.isSuccess() ? Outcome.COMPLETED : Outcome.CLIENT_DISCONNECTED));
            releaseUpstream(upstreamKeepAlive);
            return;
        }
        meter.onBodyEnd(now);
        // The end of the response (the [DONE] event, or a JSON body's last bytes) reaches the client only once
        // its usage record is in the journal: a client that saw the whole response was metered, even if the
        // process dies right after.
        if (forward != LastHttpContent.EMPTY_LAST_CONTENT) {
            tailContent = forward;
        }
        client.flush();
        releaseUpstream(upstreamKeepAlive);
        recordSubmitted = true;
        services.metering().submit(record(successOutcome(), now),
                () -> client.executor().execute(this::deliverTail));
    }

    /** Writes what was held until the usage record was journaled, and ends the exchange. */
    private void deliverTail() {
        if (finished) {
            releaseTail();
            return;
        }
        if (tail != null) {
            client.write(new DefaultHttpContent(tail), client.voidPromise());
            tail = null;
        }
        HttpContent last = tailContent != null ? tailContent : LastHttpContent.EMPTY_LAST_CONTENT;
        tailContent = null;
        client.writeAndFlush(last).addListener((ChannelFutureListener) f -> end(!f.isSuccess()));
    }

    private void releaseTail() {
        if (tail != null) {
            tail.release();
            tail = null;
        }
        if (tailContent != null) {
            tailContent.release();
            tailContent = null;
        }
    }

    private Outcome successOutcome() {
        if (status >= 400) {
            return Outcome.UPSTREAM_ERROR;
        }
        if (meter != null && meter.sawError()) {
            return eventStream ? Outcome.STREAM_ERROR : Outcome.UPSTREAM_ERROR;
        }
        return Outcome.COMPLETED;
    }

    /**
     * Forwards the complete events of this read, as the meter decides, and holds back the bytes of an event
     * still in progress.
     */
    private void relayFiltered(ByteBuf data, long now) {
        int len = data.readableBytes();
        if (held == null) {
            held = data.retainedSlice();
            heldStart = bodyPos;
        } else {
            held = client.alloc().compositeBuffer().addComponents(true, held, data.retainedSlice());
        }
        MeterTap.feed(meter, data, now, this::onEvent);
        bodyPos += len;
        if (out != null) {
            client.write(new DefaultHttpContent(out), client.voidPromise());
            out = null;
        }
    }

    private void onEvent(long eventStart, long eventEnd, StreamMeter.EventAction action, long stripStart, long stripEnd) {
        // Events complete in order; everything before eventStart was already forwarded or dropped.
        int from = (int) (eventStart - heldStart);
        int to = (int) (eventEnd - heldStart);
        if (from > 0) {
            // Bytes between events (comments, stray blank lines) pass unchanged.
            emit(held.retainedSlice(held.readerIndex(), from));
        }
        if (!doneSeen && meter.sawDone()) {
            // From the terminating event on, bytes wait for the journal (see deliverTail).
            doneSeen = true;
        }
        switch (action) {
            case FORWARD -> emit(held.retainedSlice(held.readerIndex() + from, to - from));
            case STRIP -> {
                int a = (int) (stripStart - heldStart);
                int b = (int) (stripEnd - heldStart);
                emit(held.retainedSlice(held.readerIndex() + from, a - from));
                emit(held.retainedSlice(held.readerIndex() + b, to - b));
            }
            case DROP -> {
            }
            default -> throw new IllegalStateException();
        }
        // Drop what is no longer needed.
        held.skipBytes(to);
        heldStart = eventEnd;
        ByteBuf rest = held.readableBytes() == 0 ? null : held.retainedSlice();
        held.release();
        held = rest;
        if (held == null) {
            heldStart = eventEnd;
        }
    }

    private void emit(ByteBuf slice) {
        if (!slice.isReadable()) {
            slice.release();
            return;
        }
        if (doneSeen) {
            if (tail == null) {
                tail = client.alloc().compositeBuffer();
            }
            ((io.netty.buffer.CompositeByteBuf) tail).addComponent(true, slice);
            return;
        }
        if (out == null) {
            out = client.alloc().compositeBuffer();
        }
        ((io.netty.buffer.CompositeByteBuf) out).addComponent(true, slice);
    }

    /** Forwards bytes held back that belong to no complete event (the stream ended without a blank line). */
    private void flushHeld() {
        if (held != null) {
            ByteBuf h = held;
            held = null;
            if (h.isReadable() && doneSeen) {
                emit(h);
            } else if (h.isReadable()) {
                client.write(new DefaultHttpContent(h), client.voidPromise());
            } else {
                h.release();
            }
        }
    }

    @Override
    public void onUpstreamReadComplete() {
        client.flush();
        if (upstreamDone || finished) {
            return;
        }
        if (client.channel().isWritable()) {
            upstreamChannel.read();
        } else {
            awaitingWritability = true;
        }
    }

    /** The client's write buffer drained below the low-water mark (or rose above the high one). */
    void onClientWritabilityChanged() {
        if (awaitingWritability && client.channel().isWritable() && !upstreamDone && upstreamChannel != null) {
            awaitingWritability = false;
            upstreamChannel.read();
        }
    }

    @Override
    public void onUpstreamClosed() {
        if (upstreamDone || finished) {
            return;
        }
        upstreamDone = true;
        upstreamEndNanos = System.nanoTime();
        failAfterUpstream("The upstream closed the connection before the response was complete.",
                Outcome.STREAM_ERROR, HttpResponseStatus.BAD_GATEWAY);
    }

    @Override
    public void onUpstreamIdle() {
        if (upstreamDone || finished || awaitingWritability) {
            return;
        }
        upstreamDone = true;
        upstreamEndNanos = System.nanoTime();
        Channel ch = upstreamChannel;
        upstreamChannel = null;
        ch.close();
        failAfterUpstream("The upstream sent nothing for longer than the idle timeout.", Outcome.UPSTREAM_TIMEOUT,
                HttpResponseStatus.GATEWAY_TIMEOUT);
    }

    @Override
    public void onUpstreamFailure(Throwable cause) {
        LOG.log(Level.FINE, "upstream failure in " + requestId, cause);
    }

    private void failAfterUpstream(String message, Outcome outcome, HttpResponseStatus statusBeforeHead) {
        if (meter != null) {
            meter.onBodyEnd(upstreamEndNanos);
        }
        releaseHeld();
        releaseUpstream(false);
        if (!responseStarted) {
            Outcome o = outcome == Outcome.STREAM_ERROR ? Outcome.UPSTREAM_ERROR : outcome;
            respondLocally(statusBeforeHead, message, "upstream_error", o);
            return;
        }
        if (eventStream) {
            // The error event ends with [DONE]; like any stream end, it waits for the usage record's journal.
            Runnable endStream = () -> {
                if (finished) {
                    return;
                }
                client.write(new DefaultHttpContent(OpenAiError.streamError(client.alloc(), message, "upstream_error",
                        null)), client.voidPromise());
                client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT)
                        .addListener((ChannelFutureListener) f -> end(!f.isSuccess()));
            };
            if (metered != null) {
                recordSubmitted = true;
                services.metering().submit(record(outcome, System.nanoTime()),
                        () -> client.executor().execute(endStream));
            } else {
                endStream.run();
            }
        } else {
            // A non-streamed body cannot be ended honestly: cut the connection so the client sees a short body.
            client.flush();
            client.close();
            finish(outcome);
        }
    }

    // ---- client side ----------------------------------------------------------------------------------

    /** The client connection closed while this exchange was running. */
    void onClientClosed() {
        if (finished) {
            return;
        }
        if (!upstreamDone) {
            upstreamDone = true;
            upstreamEndNanos = System.nanoTime();
            if (meter != null) {
                meter.onBodyEnd(upstreamEndNanos);
            }
        }
        releaseHeld();
        // Stop the upstream generating tokens nobody will receive.
        releaseUpstream(false);
        finish(Outcome.CLIENT_DISCONNECTED);
    }

    private void releaseUpstreamSlot() {
        if (holdsUpstreamSlot) {
            holdsUpstreamSlot = false;
            services.upstreams().done(upstream);
        }
    }

    private void failBeforeUpstream(HttpResponseStatus st, String message, Outcome outcome) {
        releaseUpstreamSlot();
        String type = st.code() == 402 ? "insufficient_quota" : "upstream_error";
        respondLocally(st, message, type, outcome);
    }

    private void respondLocally(HttpResponseStatus st, String message, String type, Outcome outcome) {
        status = st.code();
        FullHttpResponse r = OpenAiError.response(client.alloc(), st, requestId, message, type, null,
                st.code() == 402 ? "insufficient_balance" : null);
        client.writeAndFlush(r).addListener((ChannelFutureListener) f ->
                finish(f.isSuccess() ? outcome : Outcome.CLIENT_DISCONNECTED));
    }

    private void releaseHeld() {
        if (held != null) {
            held.release();
            held = null;
        }
        if (out != null) {
            out.release();
            out = null;
        }
    }

    private void releaseUpstream(boolean reusable) {
        Channel ch = upstreamChannel;
        upstreamChannel = null;
        releaseUpstreamSlot();
        if (ch == null) {
            return;
        }
        if (reusable) {
            services.connector().release(upstream, ch);
        } else {
            ch.pipeline().get(UpstreamRelayHandler.class).attach(null);
            ch.close();
        }
    }

    /** Ends the exchange once: records usage (unless already recorded) and lets the connection go on. */
    private void finish(Outcome outcome) {
        if (finished) {
            return;
        }
        if (metered != null && !recordSubmitted) {
            recordSubmitted = true;
            services.metering().submit(record(outcome, System.nanoTime()));
        }
        end(outcome == Outcome.CLIENT_DISCONNECTED);
    }

    private void end(boolean clientGone) {
        if (finished) {
            return;
        }
        finished = true;
        releaseTail();
        request.release();
        if (streamCounted) {
            services.metering().streamEnded();
        }
        owner.exchangeEnded(this, clientGone);
    }

    private UsageRecord record(Outcome outcome, long endNanos) {
        boolean called = requestSentNanos >= 0;
        long prompt = 0;
        long completion = 0;
        UsageSource source = UsageSource.NONE;
        long firstToken = -1;
        if (called) {
            long up = meter.upstreamPromptTokens();
            long uc = meter.upstreamCompletionTokens();
            if (up >= 0 && uc >= 0) {
                prompt = up;
                completion = uc;
                source = UsageSource.UPSTREAM;
            } else if (status >= 400 && !meter.hasUpstreamUsage()) {
                // An error answered before any generation: nothing was served.
                source = UsageSource.NONE;
            } else {
                prompt = up >= 0 ? up : metered.estimatePromptTokens(services.tokens());
                completion = uc >= 0 ? uc : meter.estimateCompletionTokens(services.tokens());
                source = UsageSource.ESTIMATED;
            }
            firstToken = meter.firstTokenNanos();
        }
        long ttft = firstToken >= 0 ? firstToken - startNanos : -1;
        long lastByte = upstreamEndNanos >= 0 ? upstreamEndNanos : endNanos;
        long generation = firstToken >= 0 ? Math.max(0, lastByte - firstToken) : -1;
        long upstreamNanos = called ? Math.max(0, lastByte - requestSentNanos) : -1;
        return new UsageRecord(requestId, account, upstream == null ? "" : upstream.name(), metered.model(),
                metered.route(), metered.stream(), prompt, completion, source, metered.maxTokens(), startMillis,
                ttft, endNanos - startNanos, generation, upstreamNanos, outcome, status);
    }
}
