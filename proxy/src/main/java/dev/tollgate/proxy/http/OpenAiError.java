package dev.tollgate.proxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpVersion;
import java.nio.charset.StandardCharsets;

/**
 * Errors Tollgate itself produces, in the OpenAI error shape
 * {@code {"error":{"message","type","param","code"}}}, as a full response or as an SSE event.
 *
 * <p>Threading: stateless.
 */
public final class OpenAiError {
    /** The response header that carries Tollgate's request id on every response. */
    public static final String REQUEST_ID_HEADER = "x-tollgate-request-id";

    private OpenAiError() {
    }

    /** The JSON body: {@code param} and {@code code} may be null. */
    public static String json(String message, String type, String param, String code) {
        StringBuilder sb = new StringBuilder(96 + message.length());
        sb.append("{\"error\":{\"message\":");
        Json.appendString(sb, message);
        sb.append(",\"type\":");
        Json.appendString(sb, type);
        sb.append(",\"param\":");
        if (param == null) {
            sb.append("null");
        } else {
            Json.appendString(sb, param);
        }
        sb.append(",\"code\":");
        if (code == null) {
            sb.append("null");
        } else {
            Json.appendString(sb, code);
        }
        return sb.append("}}").toString();
    }

    /** A full JSON error response carrying the request id. */
    public static FullHttpResponse response(ByteBufAllocator alloc, HttpResponseStatus status, String requestId,
                                            String message, String type, String param, String code) {
        byte[] body = json(message, type, param, code).getBytes(StandardCharsets.UTF_8);
        ByteBuf buf = alloc.buffer(body.length).writeBytes(body);
        FullHttpResponse r = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, buf);
        r.headers().set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.APPLICATION_JSON);
        r.headers().setInt(HttpHeaderNames.CONTENT_LENGTH, body.length);
        if (requestId != null) {
            r.headers().set(REQUEST_ID_HEADER, requestId);
        }
        return r;
    }

    /**
     * The SSE bytes that end a Responses API stream that failed after it started: the protocol's named
     * {@code error} event ({@code type}, {@code code}, {@code message}, {@code param}); that protocol has no
     * {@code [DONE]}. The sequence number continues past any the upstream could have sent.
     */
    public static ByteBuf responsesStreamError(ByteBufAllocator alloc, String message, String code) {
        StringBuilder ev = new StringBuilder("event: error\ndata: {\"type\":\"error\",\"code\":");
        Json.appendString(ev, code);
        ev.append(",\"message\":");
        Json.appendString(ev, message);
        ev.append(",\"param\":null,\"sequence_number\":").append(Integer.MAX_VALUE).append("}\n\n");
        byte[] b = ev.toString().getBytes(StandardCharsets.UTF_8);
        return alloc.buffer(b.length).writeBytes(b);
    }

    /** The SSE bytes that end a stream that failed after it started: an error event, then {@code [DONE]}. */
    public static ByteBuf streamError(ByteBufAllocator alloc, String message, String type, String code) {
        String ev = "data: " + json(message, type, null, code) + "\n\ndata: [DONE]\n\n";
        byte[] b = ev.getBytes(StandardCharsets.UTF_8);
        return alloc.buffer(b.length).writeBytes(b);
    }
}
