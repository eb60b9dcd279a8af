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
 * <p>Threading: one per connection, event loop only.
 */
final class RequestDeadline extends ChannelDuplexHandler {
    private final long deadlineMillis;
    private ScheduledFuture<?> timer;
    private boolean awaitingRequest = true;

    RequestDeadline(long deadlineMillis) {
        this.deadlineMillis = deadlineMillis;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (awaitingRequest && timer == null) {
            timer = ctx.executor().schedule(() -> expire(ctx), deadlineMillis, TimeUnit.MILLISECONDS);
        }
        ctx.fireChannelRead(msg);
    }

    /** A whole request has arrived: stop the clock until the next one starts. */
    void requestReceived() {
        awaitingRequest = false;
        cancel();
    }

    /** The response was sent: the next byte starts the next request's clock. */
    void responseSent() {
        awaitingRequest = true;
    }

    private void expire(ChannelHandlerContext ctx) {
        timer = null;
        if (!awaitingRequest || !ctx.channel().isActive()) {
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
