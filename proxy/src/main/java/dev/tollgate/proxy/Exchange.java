package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.Route;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.proxy.upstream.UpstreamEvents;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.util.ReferenceCountUtil;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One request relayed to an upstream and its response relayed back, with metering.
 *
 * <p>The exchange's life: admission, the upstream connection, failures on either side, the usage record's hand-off
 * and the end. The response itself is relayed by an {@link ExchangeResponse}: never buffered, each upstream read
 * forwarded as it arrives, the upstream read again only while the client is writable; a metered event stream goes
 * through an {@link SseRelay}, which holds back at most the one SSE event in progress.
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
    private final ExchangeResponse response;

    private long requestSentNanos = -1;
    private boolean finished;
    private boolean recordSubmitted;

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
        this.response = new ExchangeResponse(client, services, request, requestId, meter, tail, leg, backpressure,
                checkpoint, (o, endNanos) -> submitThen(o, endNanos, this::deliverEnd), this::finish);
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
        response.onMessage(msg);
    }

    @Override
    public void onUpstreamReadComplete() {
        response.onReadComplete(finished);
    }

    /** The client's write buffer drained below the low-water mark (or rose above the high one). */
    void onClientWritabilityChanged() {
        response.onClientWritabilityChanged();
    }

    @Override
    public void onUpstreamClosed() {
        if (response.upstreamDone() || finished) {
            return;
        }
        response.upstreamEnded();
        failAfterUpstream("The upstream closed the connection before the response was complete.",
                Outcome.STREAM_ERROR, HttpResponseStatus.BAD_GATEWAY);
    }

    @Override
    public void onUpstreamIdle() {
        if (response.upstreamDone() || finished || backpressure.awaiting()) {
            return;
        }
        response.upstreamEnded();
        leg.close();
        failAfterUpstream("The upstream sent nothing for longer than the idle timeout.", Outcome.UPSTREAM_TIMEOUT,
                HttpResponseStatus.GATEWAY_TIMEOUT);
    }

    @Override
    public void onUpstreamFailure(Throwable cause) {
        LOG.log(Level.FINE, "upstream failure in " + requestId, cause);
    }

    private void failAfterUpstream(String message, Outcome outcome, HttpResponseStatus statusBeforeHead) {
        releaseHeld();
        leg.release(false);
        failure.fail(response.started(), response.eventStream(), message, outcome, statusBeforeHead);
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
        if (finished || !response.started() || !backpressure.stalled()) {
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
        if (!response.upstreamDone()) {
            response.upstreamEnded();
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
        return response.relayHeldBytes() + tail.heldBytes() + backpressure.pendingBytes();
    }

    private void answerBeforeUpstream(HttpResponseStatus st, String message, String type, String param,
                                      Outcome outcome) {
        upstreams.releaseSlot();
        respondLocally(st, message, type, param, outcome);
    }

    /** Answers with an OpenAI-shaped error of this proxy's own (402 carries {@code insufficient_balance}). */
    private void respondLocally(HttpResponseStatus st, String message, String type, String param, Outcome outcome) {
        response.answeredLocally(st.code());
        FullHttpResponse r = OpenAiError.response(client.alloc(), st, requestId, message, type, param,
                st.code() == 402 ? "insufficient_balance" : null);
        client.writeAndFlush(r).addListener((ChannelFutureListener) f ->
                finish(f.isSuccess() ? outcome : Outcome.CLIENT_DISCONNECTED));
    }

    private void releaseHeld() {
        response.releaseHeld();
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
        if (response.closeAfterResponse()) {
            // A close-delimited (HTTP/1.0) body ends with the connection.
            client.close();
        }
        if (response.streamCounted()) {
            services.metering().streamEnded();
        }
        owner.exchangeEnded(this, clientGone || response.closeAfterResponse());
    }

    /** The usage record of a complete response is in the usage log: the response's held end goes to the client. */
    private void deliverEnd() {
        tail.deliver(finished, response.eventStream(), this::end);
    }

    /**
     * Submits the usage record; {@code then} runs on this loop once it is in the usage log: as a task queued from this
     * loop when the record was appended here, or handed back by the metering thread.
     */
    private void submitThen(Outcome outcome, long endNanos, Runnable then) {
        recordSubmitted = true;
        submitRecord(outcome, endNanos, () -> client.executor().execute(then));
    }

    /** Hands the usage record over ({@code afterJournal}, if any, runs once it is journaled). */
    private void submitRecord(Outcome outcome, long endNanos, Runnable afterJournal) {
        record.submit(outcome, response.status(), upstreams.upstream(), requestSentNanos, response.upstreamEndNanos(),
                endNanos,
                afterJournal);
    }
}
