package dev.tollgate.proxy.agentapi;

import dev.tollgate.proxy.http.OpenAiError;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.util.Map;

/**
 * An agent API answer before it becomes bytes: status, body and extra headers. Computed on the agent escrow
 * thread, turned into a Netty response on the client's event loop ({@link #toResponse}).
 *
 * <p>Immutable.
 */
public record ApiAnswer(int status, String contentType, String body, Map<String, String> headers) {

    public static ApiAnswer json(int status, String body) {
        return new ApiAnswer(status, "application/json", body, Map.of());
    }

    /** This answer with one more header. */
    public ApiAnswer withHeader(String name, String value) {
        java.util.HashMap<String, String> h = new java.util.HashMap<>(headers);
        h.put(name, value);
        return new ApiAnswer(status, contentType, body, Map.copyOf(h));
    }

    /** The response (the caller owns it and writes or releases it). */
    public FullHttpResponse toResponse(ByteBufAllocator alloc, String requestId) {
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, HttpResponseStatus.valueOf(status),
                body.isEmpty() ? alloc.buffer(0) : ByteBufUtil.writeUtf8(alloc, body));
        if (!body.isEmpty()) {
            r.headers().set(HttpHeaderNames.CONTENT_TYPE, contentType);
        }
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, r.content().readableBytes());
        r.headers().set(OpenAiError.REQUEST_ID_HEADER, requestId);
        headers.forEach((k, v) -> r.headers().set(k, v));
        return r;
    }
}
