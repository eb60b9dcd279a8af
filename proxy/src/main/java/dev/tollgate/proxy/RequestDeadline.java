package dev.tollgate.proxy;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * Gives a client a deadline from the first byte of a request to its last: a client that trickles its headers
 * or body (slowloris) gets 408 and is disconnected, instead of holding a connection forever by sending one byte
 * before each idle timeout. Sits before the HTTP codec, so it sees bytes, not messages.
 *
 * <p>One timer per connection, not one per request: the first byte of a request notes the time, and a timer that
 * fires while the request is still incomplete and not yet due is set again for what remains. A request that
 * completes only clears the note, so a busy keep-alive connection schedules at most one timer per deadline
 * period.
 *
 * <p>Threading: one per connection, event loop only.
 */
final class RequestDeadline extends ChannelDuplexHandler {
    private final long deadlineMillis;
    private final long deadlineNanos;
    private ScheduledFuture<?> timer;
    private boolean awaitingRequest = true;
    /** When the first byte of the request being read arrived (the loop's ticker); -1: none in progress. */
    private long requestStartNanos = -1;

    RequestDeadline(long deadlineMillis) {
        this.deadlineMillis = deadlineMillis;
        this.deadlineNanos = TimeUnit.MILLISECONDS.toNanos(deadlineMillis);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (awaitingRequest && requestStartNanos < 0) {
            requestStartNanos = ctx.executor().ticker().nanoTime();
            if (timer == null) {
                timer = ctx.executor().schedule(() -> check(ctx), deadlineNanos, TimeUnit.NANOSECONDS);
            }
        }
        ctx.fireChannelRead(msg);
    }

    /** A whole request has arrived: stop the clock until the next one starts. */
    void requestReceived() {
        awaitingRequest = false;
        requestStartNanos = -1;
    }

    /** The response was sent: the next byte starts the next request's clock. */
    void responseSent() {
        awaitingRequest = true;
    }

    private void check(ChannelHandlerContext ctx) {
        timer = null;
        if (!ctx.channel().isActive() || !awaitingRequest || requestStartNanos < 0) {
            return;
        }
        long left = deadlineNanos - (ctx.executor().ticker().nanoTime() - requestStartNanos);
        if (left > 0) {
            // A later request than the one this timer was set for: its own deadline is still ahead.
            timer = ctx.executor().schedule(() -> check(ctx), left, TimeUnit.NANOSECONDS);
            return;
        }
        var r = OpenAiError.response(ctx.alloc(), HttpResponseStatus.REQUEST_TIMEOUT, null,
                "The request was not received within " + deadlineMillis + " ms.", "invalid_request_error", null,
                "request_timeout");
        HttpUtil.setKeepAlive(r, false);
        ctx.channel().writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }

    private void cancel() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancel();
        ctx.fireChannelInactive();
    }
}
