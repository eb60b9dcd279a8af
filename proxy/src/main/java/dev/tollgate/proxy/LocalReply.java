package dev.tollgate.proxy;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;

/**
 * Answers a request locally with an OpenAI-shaped error, without any upstream call: releases the request,
 * keeps the connection open when the client asked for it. A 405 carries {@code Allow}.
 *
 * <p>Threading: stateless; called on the connection's event loop.
 */
final class LocalReply {
    private LocalReply() {
    }

    static void error(ChannelHandlerContext ctx, FullHttpRequest req, String requestId, HttpResponseStatus status,
                      String message, String type, String param, String code) {
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        req.release();
        FullHttpResponse r = OpenAiError.response(ctx.alloc(), status, requestId, message, type, param, code);
        if (status.code() == 405) {
            r.headers().set(HttpHeaderNames.ALLOW, "GET, HEAD, POST");
        }
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }
}
