package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.metering.sse.SseEventParser;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.proxy.upstream.UpstreamEvents;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
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
    private static final Logger LOG = Logger.getLogger(Exchange.class.getName());

    private final ProxyServices services;
    private final ClientConnectionHandler owner;
    private final ChannelHandlerContext client;
    private final String requestId;
    private final String account;
    private final FullHttpRequest request;
    private final MeteredRequest metered;
    private final byte[] originalBody;
    private final StreamMeter meter;
    private final UpstreamChoice upstreams;
    private final UsageSubmission record;
    private final StreamCheckpoint checkpoint;
    private final ExchangeAdmission admission;
    private final ResponseTail tail;
    private final UpstreamLeg leg;
    private final ClientBackpressure backpressure;
    private final UpstreamFailure failure;

    private long requestSentNanos = -1;
    private long upstreamEndNanos = -1;
    private int status;
    private boolean responseStarted;
    private boolean eventStream;
    private boolean upstreamKeepAlive;
    private boolean upstreamDone;
    private boolean finished;
    private boolean recordSubmitted;
    private boolean closeAfterResponse;
    private SseRelay relay;
    private HttpContent reading;
    private boolean streamCounted;

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
        ExchangeUsage usage = metered == null ? null
                : new ExchangeUsage(services.tokens(), requestId, account, metered, startNanos, startMillis,
                        services.traces().link(metered, request.headers(), requestId));
        this.meter = usage == null ? null : usage.meter();
        this.record = usage == null ? null : new UsageSubmission(services, usage);
        this.checkpoint = usage == null ? null : new StreamCheckpoint(services, meter, requestId, metered.model());
        this.admission = usage == null ? null : new ExchangeAdmission(client, requestId, () -> finished,
                this::connect, this::answerBeforeUpstream, o -> submitRecord(o, System.nanoTime(), null));
        boolean responsesApi = metered != null && metered.route() == Route.RESPONSES;
        this.tail = new ResponseTail(client, services, requestId, responsesApi);
        this.leg = new UpstreamLeg(services, upstreams);
        this.backpressure = new ClientBackpressure(client);
        this.failure = new UpstreamFailure(client, metered != null, responsesApi, () -> finished,
                (st, message, o) -> respondLocally(st, message, "upstream_error", null, o),
                (o, then) -> submitThen(o, System.nanoTime(), then), this::end, this::finish);
    }

    /** Picks an upstream, asks the admission gate, then connects. Takes ownership of the request. */
    void start() {
        if (!upstreams.pick()) {
            answerBeforeUpstream(HttpResponseStatus.BAD_GATEWAY, "No upstream is configured.", "upstream_error", null,
                    Outcome.UPSTREAM_UNREACHABLE);
            return;
        }
        if (metered == null) {
            connect();
            return;
        }
        admission.ask(services.admission(), account, upstreams.upstream().worker(), metered, originalBody.length);
    }

    private void connect() {
        if (finished) {
            return;
        }
        leg.connect(client.channel().eventLoop(), () -> finished, this::send, () -> answerBeforeUpstream(
                HttpResponseStatus.BAD_GATEWAY, "The upstream inference server could not be reached.",
                "upstream_error", null, Outcome.UPSTREAM_UNREACHABLE));
    }

    private void send(Channel ch) {
        services.relayGauge().register(this);
        requestSentNanos = leg.send(ch, this, request, metered, originalBody);
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
            leg.release(upstreamKeepAlive);
            return;
        }
        meter.onBodyEnd(now);
        // The end of the response (the [DONE] event, or a JSON body's last bytes) reaches the client only once
        // its usage record is in the journal: a client that saw the whole response was metered, even if the
        // process dies right after.
        tail.hold(relay, forward != LastHttpContent.EMPTY_LAST_CONTENT ? forward : null);
        if (eventStream) {
            // Events before [DONE] go now (time to first token); a JSON body's head and first parts go with its
            // end, in one write, once the record is journaled.
            client.flush();
        }
        leg.release(upstreamKeepAlive);
        submitThen(ExchangeUsage.endOutcome(status, meter, eventStream), now,
                () -> tail.deliver(finished, eventStream, this::end));
    }

    /** Writes bytes the relay lets through; the upstream's own content object when it is forwarded whole. */
    private void toClient(ByteBuf buf) {
        HttpContent c = reading;
        client.write(c != null && c.content() == buf ? c : new DefaultHttpContent(buf), client.voidPromise());
    }

    @Override
    public void onUpstreamReadComplete() {
        if (upstreamDone || finished) {
            if (finished || eventStream || meter == null) {
                client.flush();
            }
            return;
        }
        client.flush();
        if (checkpoint != null) {
            checkpoint.onRead();
        }
        if (backpressure.mayRead()) {
            leg.read();
        }
    }

    /** The client's write buffer drained below the low-water mark (or rose above the high one). */
    void onClientWritabilityChanged() {
        if (!upstreamDone && leg.connected() && backpressure.resume()) {
            leg.read();
        }
    }

    @Override
    public void onUpstreamClosed() {
        if (upstreamDone || finished) {
            return;
        }
        upstreamEnded();
        failAfterUpstream("The upstream closed the connection before the response was complete.",
                Outcome.STREAM_ERROR, HttpResponseStatus.BAD_GATEWAY);
    }

    @Override
    public void onUpstreamIdle() {
        if (upstreamDone || finished || backpressure.awaiting()) {
            return;
        }
        upstreamEnded();
        leg.close();
        failAfterUpstream("The upstream sent nothing for longer than the idle timeout.", Outcome.UPSTREAM_TIMEOUT,
                HttpResponseStatus.GATEWAY_TIMEOUT);
    }

    @Override
    public void onUpstreamFailure(Throwable cause) {
        LOG.log(Level.FINE, "upstream failure in " + requestId, cause);
    }

    /** The upstream's part of the response ends now (cut off or complete as far as it goes). */
    private void upstreamEnded() {
        upstreamDone = true;
        upstreamEndNanos = System.nanoTime();
        if (meter != null) {
            meter.onBodyEnd(upstreamEndNanos);
        }
    }

    private void failAfterUpstream(String message, Outcome outcome, HttpResponseStatus statusBeforeHead) {
        releaseHeld();
        leg.release(false);
        failure.fail(responseStarted, eventStream, message, outcome, statusBeforeHead);
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
        if (finished || !responseStarted || !backpressure.stalled()) {
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
            upstreamEnded();
        }
        releaseHeld();
        // Stop the upstream generating tokens nobody will receive.
        leg.release(false);
        finish(outcome);
    }

    /**
     * Bytes this exchange pulled from the upstream and has not yet written to the client socket: what its relay
     * holds, a held response end, and the client channel's pending writes. Read by the metrics thread.
     */
    long heldBytes() {
        SseRelay r = relay;
        return (r == null ? 0 : r.heldBytes()) + tail.heldBytes() + backpressure.pendingBytes();
    }

    private void answerBeforeUpstream(HttpResponseStatus st, String message, String type, String param,
                                      Outcome outcome) {
        upstreams.releaseSlot();
        respondLocally(st, message, type, param, outcome);
    }

    /** Answers with an OpenAI-shaped error of this proxy's own (402 carries {@code insufficient_balance}). */
    private void respondLocally(HttpResponseStatus st, String message, String type, String param, Outcome outcome) {
        status = st.code();
        FullHttpResponse r = OpenAiError.response(client.alloc(), st, requestId, message, type, param,
                st.code() == 402 ? "insufficient_balance" : null);
        client.writeAndFlush(r).addListener((ChannelFutureListener) f ->
                finish(f.isSuccess() ? outcome : Outcome.CLIENT_DISCONNECTED));
    }

    private void releaseHeld() {
        if (relay != null) {
            relay.release();
        }
    }

    /** Ends the exchange once: records usage (unless already recorded) and lets the connection go on. */
    private void finish(Outcome outcome) {
        if (finished) {
            return;
        }
        if (metered != null && !recordSubmitted) {
            recordSubmitted = true;
            if (!admission.defer(outcome)) {
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
        releaseHeld();
        tail.release();
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

    /** Submits the usage record; {@code then} runs on this loop once it is journaled. */
    private void submitThen(Outcome outcome, long endNanos, Runnable then) {
        recordSubmitted = true;
        submitRecord(outcome, endNanos, () -> client.executor().execute(then));
    }

    /** Hands the usage record over ({@code afterJournal}, if any, runs once it is journaled). */
    private void submitRecord(Outcome outcome, long endNanos, Runnable afterJournal) {
        record.submit(outcome, status, upstreams.upstream(), requestSentNanos, upstreamEndNanos, endNanos,
                afterJournal);
    }
}
