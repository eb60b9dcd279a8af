package dev.tollgate.proxy.admin;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.List;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Serves the admin API: open {@code /metrics}, {@code /healthz}, {@code /readyz}; everything under
 * {@code /admin/} needs the admin bearer token when one is configured (compared in constant time).
 *
 * <p>Threading: runs on the admin executor group (routes may touch the database).
 */
final class AdminHandler extends SimpleChannelInboundHandler<FullHttpRequest> {
    private static final Logger LOG = Logger.getLogger(AdminHandler.class.getName());

    private final byte[] adminToken;
    private final List<AdminRoutes> routes;

    AdminHandler(String adminToken, List<AdminRoutes> routes) {
        this.adminToken = adminToken == null ? null : ("Bearer " + adminToken).getBytes(StandardCharsets.UTF_8);
        this.routes = routes;
    }

    @Override
    protected void channelRead0(ChannelHandlerContext ctx, FullHttpRequest req) {
        QueryStringDecoder uri = new QueryStringDecoder(req.uri());
        AdminResponse response;
        try {
            response = route(req, uri);
        } catch (RuntimeException e) {
            LOG.log(Level.WARNING, "admin request failed: " + req.uri(), e);
            response = AdminResponse.json(500, OpenAiError.json("Internal error: " + e.getClass().getSimpleName(),
                    "server_error", null, null));
        }
        byte[] body = response.body().getBytes(StandardCharsets.UTF_8);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1,
                HttpResponseStatus.valueOf(response.status()), Unpooled.wrappedBuffer(body));
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, response.contentType());
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        boolean keepAlive = HttpUtil.isKeepAlive(req);
        HttpUtil.setKeepAlive(r, keepAlive);
        var f = ctx.writeAndFlush(r);
        if (!keepAlive) {
            f.addListener(ChannelFutureListener.CLOSE);
        }
    }

    private AdminResponse route(FullHttpRequest req, QueryStringDecoder uri) {
        if (uri.path().startsWith("/admin/") && !authorized(req.headers().get(HttpHeaderNames.AUTHORIZATION))) {
            return AdminResponse.json(401, OpenAiError.json("The admin API needs the admin token.",
                    "invalid_request_error", null, "invalid_admin_token"));
        }
        byte[] body = ByteBufUtil.getBytes(req.content());
        for (AdminRoutes r : routes) {
            AdminResponse resp = r.handle(req.method(), uri, body);
            if (resp != null) {
                return resp;
            }
        }
        return AdminResponse.notFound("No admin route " + req.method() + " " + uri.path() + ".");
    }

    private boolean authorized(String header) {
        if (adminToken == null) {
            return true;
        }
        byte[] presented = header == null ? new byte[0] : header.getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(adminToken, presented);
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.close();
    }
}
