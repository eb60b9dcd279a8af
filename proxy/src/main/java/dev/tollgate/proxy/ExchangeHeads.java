package dev.tollgate.proxy;

import dev.tollgate.proxy.http.HopByHopHeaders;
import dev.tollgate.proxy.http.OpenAiError;
import dev.tollgate.proxy.upstream.Upstream;
import io.netty.buffer.ByteBuf;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpHeadersFactory;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpHeadersFactory;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/**
 * The request head sent upstream and the response head sent to the client: hop-by-hop headers stripped, the
 * client's key replaced by the upstream's, the body framing chosen for the client's HTTP version.
 *
 * <p>Threading: stateless.
 */
final class ExchangeHeads {
    /**
     * Heads built here copy headers the HTTP decoders already checked, and add Tollgate's own: they are not
     * checked a second time (a copy per request, on every request).
     */
    private static final HttpHeadersFactory CHECKED = DefaultHttpHeadersFactory.headersFactory().withValidation(false);
    private static final HttpHeadersFactory CHECKED_TRAILERS =
            DefaultHttpHeadersFactory.trailersFactory().withValidation(false);

    private ExchangeHeads() {
    }

    /** The upstream request for {@code request} with {@code body} (owned by the result). */
    static FullHttpRequest upstreamRequest(FullHttpRequest request, ByteBuf body, Upstream upstream, boolean metered) {
        DefaultFullHttpRequest up = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, request.method(),
                upstream.upstreamUri(request.uri()), body, CHECKED, CHECKED_TRAILERS);
        HttpHeaders h = up.headers();
        h.set(request.headers());
        HopByHopHeaders.strip(h);
        h.remove(HttpHeaderNames.AUTHORIZATION);
        h.remove(HttpHeaderNames.EXPECT);
        h.remove(OpenAiError.REQUEST_ID_HEADER);
        h.set(HttpHeaderNames.HOST, upstream.authority());
        h.setInt(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
        if (metered) {
            // The meter reads the body as it passes: ask for it uncompressed.
            h.set(HttpHeaderNames.ACCEPT_ENCODING, HttpHeaderValues.IDENTITY);
        }
        if (upstream.authorization() != null) {
            h.set(HttpHeaderNames.AUTHORIZATION, upstream.authorization());
        }
        return up;
    }

    /**
     * The client's response head for the upstream's {@code head}. A body whose length is not known in advance
     * ({@code relayed}: the relay may change it; or the upstream sent none) is chunked for HTTP/1.1 and
     * close-delimited for HTTP/1.0, which has no chunked encoding (see {@link #closeDelimited}).
     */
    static HttpResponse clientResponse(HttpResponse head, HttpRequest request, String requestId, boolean relayed) {
        boolean http10 = request.protocolVersion().equals(HttpVersion.HTTP_1_0);
        HttpResponse toClient = new DefaultHttpResponse(http10 ? HttpVersion.HTTP_1_0 : HttpVersion.HTTP_1_1,
                head.status(), CHECKED);
        HttpHeaders h = toClient.headers();
        h.set(head.headers());
        HopByHopHeaders.strip(h);
        h.set(OpenAiError.REQUEST_ID_HEADER, requestId);
        if (relayed || !h.contains(HttpHeaderNames.CONTENT_LENGTH)) {
            h.remove(HttpHeaderNames.CONTENT_LENGTH);
            if (http10) {
                h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE);
            } else {
                HttpUtil.setTransferEncodingChunked(toClient, true);
            }
        } else if (http10 && HttpUtil.isKeepAlive(request)) {
            // An HTTP/1.0 connection persists only when the response says so.
            h.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.KEEP_ALIVE);
        }
        return toClient;
    }

    /** Whether the body of {@code response} ends with the connection. */
    static boolean closeDelimited(HttpResponse response) {
        return !response.headers().contains(HttpHeaderNames.CONTENT_LENGTH) && !HttpUtil.isTransferEncodingChunked(response);
    }
}
