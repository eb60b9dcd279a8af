package dev.tollgate.proxy;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;

/**
 * Aggregates a request (never a response) up to a size limit; a larger body gets a 413 in the OpenAI error
 * shape and the connection is closed, since the rest of the body is still on its way.
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
        HttpUtil.setKeepAlive(r, false);
        ctx.writeAndFlush(r).addListener(ChannelFutureListener.CLOSE);
    }
}
