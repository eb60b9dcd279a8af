package dev.tollgate.proxy;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;

/**
 * Aggregates a request (never a response) up to a size limit; a larger body gets a 413 in the OpenAI error
 * shape. The connection stays open and the rest of that body is read and discarded (never buffered), so the
 * client sees the answer instead of a reset while it is still sending; the request deadline bounds how long
 * such a body may take.
 *
 * <p>Threading: one per connection, event loop only.
 */
final class RequestBodyLimit extends HttpObjectAggregator {
    private final int maxBytes;

    RequestBodyLimit(int maxBytes) {
        super(maxBytes);
        this.maxBytes = maxBytes;
    }

    @Override
    protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
        FullHttpResponse r = OpenAiError.response(ctx.alloc(), HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, null,
                "The request body is larger than " + maxBytes + " bytes.", "invalid_request_error", null,
                "request_too_large");
        HttpUtil.setKeepAlive(r, HttpUtil.isKeepAlive(oversized));
        RequestDeadline deadline = ctx.pipeline().get(RequestDeadline.class);
        if (deadline != null) {
            // This request is answered; the rest of its body, and what follows, runs on a fresh deadline.
            deadline.requestReceived();
            deadline.responseSent();
        }
        ctx.writeAndFlush(r);
    }
}
