package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.metering.UsageRecord;
import dev.tollgate.metering.sse.SseEventParser;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.proxy.upstream.Upstream;
import dev.tollgate.proxy.upstream.UpstreamEvents;
import dev.tollgate.proxy.upstream.UpstreamRelayHandler;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundBuffer;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One request relayed to an upstream and its response relayed back, with metering.
 *
 * <p>The response is never buffered: each upstream read is forwarded as it arrives, the upstream is read
 * again only while the client is writable, and the metering tap reads bytes without moving them. A metered
 * event stream goes through an {@link SseRelay}, which holds back at most the one SSE event in progress.
 *
 * <p>Threading: confined to the client channel's event loop; the upstream connection uses the same loop.
 */
final class Exchange implements UpstreamEvents {
    private static final long CHECKPOINT_NANOS = 2_000_000_000L;
    private static final Logger LOG = Logger.getLogger(Exchange.class.getName());

    private final ProxyServices services;
    private final ClientConnectionHandler owner;
    private final ChannelHandlerContext client;
    private final String requestId;
    private final String account;
    private final FullHttpRequest request;
    private final MeteredRequest metered;
    private final byte[] originalBody;
    private final ExchangeUsage usage;
    private final StreamMeter meter;
    private final UpstreamChoice upstreams;

    private Channel upstreamChannel;
    private long requestSentNanos = -1;
    private long upstreamEndNanos = -1;
    private int status;
    private boolean responseStarted;
    private boolean eventStream;
    private boolean upstreamKeepAlive;
    private boolean awaitingWritability;
    private boolean upstreamDone;
    private boolean finished;
    private boolean recordSubmitted;
    private boolean closeAfterResponse;
    private SseRelay relay;
    private HttpContent reading;
    private HttpContent tailContent;
    private boolean streamCounted;
    private long lastCheckpointNanos;
    private boolean admissionPending;
    private Outcome deferredOutcome;

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
        this.upstreams = new UpstreamChoice(services);
        this.usage = metered == null ? null
                : new ExchangeUsage(services.tokens(), requestId, account, metered, startNanos, startMillis);
        this.meter = usage == null ? null : usage.meter();
    }

    /** Picks an upstream, asks the admission gate, then connects. Takes ownership of the request. */
    void start() {
        if (!upstreams.pick()) {
            failBeforeUpstream(HttpResponseStatus.BAD_GATEWAY, "No upstream is configured.", Outcome.UPSTREAM_UNREACHABLE);
            return;
        }
        if (metered == null) {
            connect();
            return;
        }
        // The lock's prompt part is bounded by the body's size: a byte-level BPE token covers at least one byte of
        // text, and the JSON around the text outweighs the chat template's few tokens per message. Tokenizing
        // here would put a 4 MB prompt's 0.4 s on the event loop.
        long promptBound = originalBody.length;
        var decision = services.admission().admit(requestId, account, upstreams.upstream().worker(), metered.model(),
                () -> promptBound, metered.maxTokens(), metered.choices()).toCompletableFuture();
        if (decision.isDone() && !decision.isCompletedExceptionally()) {
            onAdmission(decision.getNow(null), null);
        } else {
            admissionPending = true;
            decision.whenComplete((d, error) -> client.executor().execute(() -> onAdmission(d, error)));
        }
    }

    private void onAdmission(AdmissionGate.Decision decision, Throwable error) {
        admissionPending = false;
        if (finished) {
            if (deferredOutcome != null) {
                // The client left while admission was deciding: the record goes now, after whatever admission
                // reserved, so the journal finds the reservation and returns it (0 tokens were served).
                submitRecord(deferredOutcome, System.nanoTime(), null);
                deferredOutcome = null;
            }
            return;
        }
        if (error != null) {
            LOG.log(Level.WARNING, "admission failed for " + requestId, error);
            failBeforeUpstream(HttpResponseStatus.SERVICE_UNAVAILABLE,
                    "Payment could not be arranged for this request; try again.", Outcome.PAYMENT_REQUIRED);
            return;
        }
        if (!decision.admitted() && decision.status() == 400) {
            upstreams.releaseSlot();
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
        upstreams.connect(client.channel().eventLoop(), () -> finished, new UpstreamChoice.Connected() {
            @Override
            public void onConnected(Channel ch) {
                send(ch);
            }

            @Override
            public void onUnreachable() {
                failBeforeUpstream(HttpResponseStatus.BAD_GATEWAY,
                        "The upstream inference server could not be reached.", Outcome.UPSTREAM_UNREACHABLE);
            }
        });
    }

    private void send(Channel ch) {
        upstreamChannel = ch;
        services.relayGauge().register(this);
        ch.pipeline().get(UpstreamRelayHandler.class).attach(this);
        Upstream upstream = upstreams.upstream();
        ByteBuf body;
        if (metered != null) {
            byte[] b = metered.upstreamBody(originalBody, upstream.continuousUsage());
            body = Unpooled.wrappedBuffer(b);
        } else {
            body = request.content().retainedDuplicate();
        }
        FullHttpRequest up = ExchangeHeads.upstreamRequest(request, body, upstream, metered != null);
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
        if (meter != null) {
            meter.onResponseStart(status, eventStream, now);
            // Metered streams are relayed event by event: injected usage can be hidden, and the terminating
            // [DONE] can wait until the usage record is journaled.
            if (eventStream) {
                relay = new SseRelay(meter, client.alloc(), SseEventParser.DEFAULT_MAX_EVENT_BYTES, this::toClient);
            }
            if (eventStream && !streamCounted) {
                streamCounted = true;
                services.metering().streamStarted();
            }
        }
        HttpResponse toClient = ExchangeHeads.clientResponse(head, request, requestId, relay != null);
        // HTTP/1.0 has no chunked encoding: a body of unknown length ends with the connection.
        closeAfterResponse = ExchangeHeads.closeDelimited(toClient);
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
            if (relay != null) {
                // The relay owns the bytes from here on and writes what the client may see.
                reading = last ? null : content;
                relay.onData(data, now);
                reading = null;
                forward = null;
                if (last) {
                    relay.onEnd();
                    forward = LastHttpContent.EMPTY_LAST_CONTENT;
                }
            } else {
                MeterTap.feed(meter, data, now, null);
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
        submitRecord(successOutcome(), now, () -> client.executor().execute(this::deliverTail));
    }

    /**
     * Every {@link #CHECKPOINT_NANOS} of a long metered stream, the tokens served so far go to the journal's next
     * group commit: if the process dies before the stream ends, the next start pays what was served from the
     * hold instead of refunding it all. Only exact (upstream-reported) counts are checkpointed.
     */
    private void checkpoint() {
        if (meter == null || services.settlement() == null) {
            return;
        }
        long now = System.nanoTime();
        if (lastCheckpointNanos == 0) {
            lastCheckpointNanos = now;
            return;
        }
        if (now - lastCheckpointNanos < CHECKPOINT_NANOS) {
            return;
        }
        lastCheckpointNanos = now;
        long prompt = meter.upstreamPromptTokens();
        long completion = meter.upstreamCompletionTokens();
        if (prompt >= 0 && completion >= 0) {
            services.settlement().progress(requestId, metered.model(), prompt, completion);
        }
    }

    /** Writes what was held until the usage record was journaled, and ends the exchange. */
    private void deliverTail() {
        if (finished) {
            releaseTail();
            return;
        }
        if (services.settlement() != null && services.settlement().quarantined(requestId)) {
            // The record could not be journaled: the client must not see a clean end it was not billed for.
            releaseTail();
            if (eventStream) {
                client.write(new DefaultHttpContent(OpenAiError.streamError(client.alloc(),
                        "The usage of this response could not be recorded; it is not complete.", "server_error",
                        null)), client.voidPromise());
                client.writeAndFlush(LastHttpContent.EMPTY_LAST_CONTENT)
                        .addListener((ChannelFutureListener) f -> end(!f.isSuccess()));
            } else {
                client.flush();
                client.close();
                end(true);
            }
            return;
        }
        ByteBuf tail = relay == null ? null : relay.takeTail();
        if (tail != null) {
            client.write(new DefaultHttpContent(tail), client.voidPromise());
        }
        HttpContent last = tailContent != null ? tailContent : LastHttpContent.EMPTY_LAST_CONTENT;
        tailContent = null;
        client.writeAndFlush(last).addListener((ChannelFutureListener) f -> end(!f.isSuccess()));
    }

    private void releaseTail() {
        if (relay != null) {
            relay.release();
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

    /** Writes bytes the relay lets through; the upstream's own content object when it is forwarded whole. */
    private void toClient(ByteBuf buf) {
        HttpContent c = reading;
        client.write(c != null && c.content() == buf ? c : new DefaultHttpContent(buf), client.voidPromise());
    }

    @Override
    public void onUpstreamReadComplete() {
        client.flush();
        if (upstreamDone || finished) {
            return;
        }
        checkpoint();
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
                submitRecord(outcome, System.nanoTime(), () -> client.executor().execute(endStream));
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
        abandon(Outcome.CLIENT_DISCONNECTED);
    }

    /**
     * The client's idle timeout passed. A client that has not taken what the relay waits to write is stalled:
     * both sides are closed and what was served is metered. Returns whether it was stalled; otherwise the exchange
     * is waiting for the upstream, whose own idle timeout applies.
     */
    boolean onClientIdle() {
        if (finished || !responseStarted || !(awaitingWritability || clientPendingBytes() > 0)) {
            return false;
        }
        abandon(Outcome.CLIENT_STALLED);
        client.close();
        return true;
    }

    private void abandon(Outcome outcome) {
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
        finish(outcome);
    }

    /** Bytes written to the client channel and not yet taken by its socket. */
    private long clientPendingBytes() {
        ChannelOutboundBuffer b = client.channel().unsafe().outboundBuffer();
        return b == null ? 0 : b.totalPendingWriteBytes();
    }

    /**
     * Bytes this exchange pulled from the upstream and has not yet written to the client socket: what its relay
     * holds, a held response end, and the client channel's pending writes. Read by the metrics thread.
     */
    long heldBytes() {
        SseRelay r = relay;
        HttpContent t = tailContent;
        long tailBytes = t == null ? 0 : t.content().readableBytes();
        return (r == null ? 0 : r.heldBytes()) + tailBytes + clientPendingBytes();
    }

    private void failBeforeUpstream(HttpResponseStatus st, String message, Outcome outcome) {
        upstreams.releaseSlot();
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
        if (relay != null) {
            relay.release();
        }
    }

    private void releaseUpstream(boolean reusable) {
        Channel ch = upstreamChannel;
        upstreamChannel = null;
        upstreams.releaseSlot();
        if (ch == null) {
            return;
        }
        if (reusable) {
            services.connector().release(upstreams.upstream(), ch);
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
            if (admissionPending) {
                deferredOutcome = outcome;
            } else {
                submitRecord(outcome, System.nanoTime(), null);
            }
        }
        end(outcome == Outcome.CLIENT_DISCONNECTED || outcome == Outcome.CLIENT_STALLED);
    }

    private void end(boolean clientGone) {
        if (finished) {
            return;
        }
        finished = true;
        services.relayGauge().unregister(this);
        releaseTail();
        request.release();
        if (closeAfterResponse) {
            // A close-delimited (HTTP/1.0) body ends with the connection.
            client.close();
        }
        if (streamCounted) {
            services.metering().streamEnded();
        }
        owner.exchangeEnded(this, clientGone || closeAfterResponse);
    }

    /**
     * Hands the usage record to the metering thread ({@code afterJournal}, if any, runs once it is journaled). When
     * the upstream reported no usage, the counts come from the tokenizer, which can take hundreds of milliseconds
     * on a large prompt: that record is built on the estimator thread, never on the event loop. The meter is not
     * touched by the exchange after this call.
     */
    private void submitRecord(Outcome outcome, long endNanos, Runnable afterJournal) {
        int st = status;
        var up = upstreams.upstream();
        long sent = requestSentNanos;
        long upEnd = upstreamEndNanos;
        if (!usage.needsEstimate(st, sent)) {
            deliver(usage.record(outcome, st, up, sent, upEnd, endNanos), afterJournal);
            return;
        }
        UsageEstimator.execute(() -> deliver(usage.record(outcome, st, up, sent, upEnd, endNanos), afterJournal));
    }

    private void deliver(UsageRecord r, Runnable afterJournal) {
        if (afterJournal == null) {
            services.metering().submit(r);
        } else {
            services.metering().submit(r, afterJournal);
        }
    }
}
