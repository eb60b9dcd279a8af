package dev.tollgate.proxy.agentapi;

import io.netty.buffer.ByteBufUtil;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.QueryStringDecoder;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * An agent API request copied out of Netty's buffers (so the request can be released at once on the event loop
 * and the answer computed on another thread): method, canonical path, query parameters, headers, body bytes, the
 * caller's account (from its API key) and Tollgate's request id.
 *
 * <p>Immutable apart from the body array, which nobody writes; thread-safe to hand over.
 */
public record AgentRequest(String method, String path, Map<String, List<String>> query, Map<String, String> headers,
                           byte[] body, String account, String requestId, boolean keepAlive) {

    /** Copies what the agent API needs from {@code req} (which the caller still owns and releases). */
    public static AgentRequest of(FullHttpRequest req, String canonicalPath, String uriWithQuery, String account,
                                  String requestId) {
        Map<String, String> headers = new TreeMap<>();
        for (Map.Entry<String, String> h : req.headers()) {
            headers.merge(h.getKey().toLowerCase(Locale.ROOT), h.getValue(), (a, b) -> a + ", " + b);
        }
        return new AgentRequest(req.method().name(), canonicalPath,
                new QueryStringDecoder(uriWithQuery).parameters(), Map.copyOf(headers),
                ByteBufUtil.getBytes(req.content()), account, requestId, HttpUtil.isKeepAlive(req));
    }

    /** A header's value (names are case-insensitive), or null. */
    public String header(String name) {
        return headers.get(name.toLowerCase(Locale.ROOT));
    }

    /** A query parameter's first value, or null. */
    public String queryParam(String name) {
        List<String> v = query.get(name);
        return v == null || v.isEmpty() ? null : v.get(0);
    }
}
