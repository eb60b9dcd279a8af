package dev.tollgate.proxy;

import dev.tollgate.metering.Outcome;
import dev.tollgate.metering.StreamMeter;
import dev.tollgate.metering.sse.SseEventParser;
import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.LastHttpContent;
import java.util.function.Consumer;

/**
 * One exchange's upstream response on its way to the client: the head, then each body part as it arrives, through
 * the meter (and, for a metered event stream, an {@link SseRelay} that holds back at most one event). The end of a
 * metered response is handed to the {@link ResponseTail} to wait for the usage record; an unmetered one is written at
 * once.
 *
 * <p>Threading: confined to the client channel's event loop; {@link #heldBytes} may be read by any thread.
 */
final class ExchangeResponse {
    /** The upstream's body ended: submit the record, and deliver the held end once it is in the usage log. */
    @FunctionalInterface
    interface MeteredEnd {
        void ended(Outcome outcome, long endNanos);
    }

    private final ChannelHandlerContext client;
    private final ProxyServices services;
    private final FullHttpRequest request;
    private final String requestId;
    private final StreamMeter meter;
    private final ResponseTail tail;
    private final UpstreamLeg leg;
    private final ClientBackpressure backpressure;
    private final StreamCheckpoint checkpoint;
    private final MeteredEnd meteredEnd;
    private final Consumer<Outcome> unmeteredEnd;

    private int status;
    private boolean started;
    private boolean eventStream;
    private boolean upstreamKeepAlive;
    private boolean upstreamDone;
    private boolean closeAfterResponse;
    private boolean streamCounted;
    private long upstreamEndNanos = -1;
    private SseRelay relay;
    private HttpContent reading;

    /**
     * @param meteredEnd   the end of a metered body (after its end is held and the upstream connection released)
     * @param unmeteredEnd the end of an unmetered body, once it is written (or failed to be)
     */
    ExchangeResponse(ChannelHandlerContext client, ProxyServices services, FullHttpRequest request, String requestId,
                     StreamMeter meter, ResponseTail tail, UpstreamLeg leg, ClientBackpressure backpressure,
                     StreamCheckpoint checkpoint, MeteredEnd meteredEnd, Consumer<Outcome> unmeteredEnd) {
        this.client = client;
        this.services = services;
        this.request = request;
        this.requestId = requestId;
        this.meter = meter;
        this.tail = tail;
        this.leg = leg;
        this.backpressure = backpressure;
        this.checkpoint = checkpoint;
        this.meteredEnd = meteredEnd;
        this.unmeteredEnd = unmeteredEnd;
    }

    /** An upstream head or body part (the exchange has not ended). Takes ownership of {@code msg}. */
    void onMessage(Object msg) {
        if (msg instanceof HttpResponse head) {
            onHead(head);
        }
        if (msg instanceof HttpContent content) {
            onContent(content);
        } else if (!(msg instanceof HttpResponse)) {
            io.netty.util.ReferenceCountUtil.release(msg);
        }
    }

    private void onHead(HttpResponse head) {
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
        started = true;
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
                    unmeteredEnd.accept(f.isSuccess() ? Outcome.COMPLETED : Outcome.CLIENT_DISCONNECTED));
            leg.release(upstreamKeepAlive);
            return;
        }
        meter.onBodyEnd(now);
        // The end of the response (the [DONE] event, or a JSON body's last bytes) reaches the client only once
        // its usage record is in the usage log: a client that saw the whole response was metered, even if the
        // process dies right after.
        tail.hold(relay, forward != LastHttpContent.EMPTY_LAST_CONTENT ? forward : null);
        if (eventStream) {
            // Events before [DONE] go now (time to first token); a JSON body's head and first parts go with its
            // end, in one write, once the record is logged.
            client.flush();
        }
        leg.release(upstreamKeepAlive);
        meteredEnd.ended(ExchangeUsage.endOutcome(status, meter, eventStream), now);
    }

    /** Writes bytes the relay lets through; the upstream's own content object when it is forwarded whole. */
    private void toClient(ByteBuf buf) {
        HttpContent c = reading;
        client.write(c != null && c.content() == buf ? c : new DefaultHttpContent(buf), client.voidPromise());
    }

    /** The upstream's read loop ended: flush, checkpoint a long stream, and read on while the client keeps up. */
    void onReadComplete(boolean finished) {
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

    /** The upstream's part of the response ends now (cut off, or complete as far as it goes). */
    void upstreamEnded() {
        upstreamDone = true;
        upstreamEndNanos = System.nanoTime();
        if (meter != null) {
            meter.onBodyEnd(upstreamEndNanos);
        }
    }

    /** Frees the relay's held event, if any (safe to call more than once). */
    void releaseHeld() {
        if (relay != null) {
            relay.release();
        }
    }

    /** Bytes the relay holds (read by the metrics thread). */
    long relayHeldBytes() {
        SseRelay r = relay;
        return r == null ? 0 : r.heldBytes();
    }

    /** The status the client got: the upstream's, or that of an answer of Tollgate's own ({@link #answeredLocally}). */
    int status() {
        return status;
    }

    /** Tollgate answered the client itself with {@code code}. */
    void answeredLocally(int code) {
        status = code;
    }

    boolean started() {
        return started;
    }

    boolean eventStream() {
        return eventStream;
    }

    boolean upstreamDone() {
        return upstreamDone;
    }

    long upstreamEndNanos() {
        return upstreamEndNanos;
    }

    /** Whether the response ends with the connection (an HTTP/1.0 body of unknown length). */
    boolean closeAfterResponse() {
        return closeAfterResponse;
    }

    /** Whether this response was counted as a stream in flight. */
    boolean streamCounted() {
        return streamCounted;
    }
}
