package dev.tollgate.proxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;
import java.util.List;

/**
 * Removes the headers that belong to one connection and must not cross a proxy (RFC 9110 section 7.6.1),
 * including any named in {@code Connection}. Stateless.
 */
public final class HopByHopHeaders {
    private static final List<AsciiString> NAMES = List.of(
            HttpHeaderNames.CONNECTION, HttpHeaderNames.KEEP_ALIVE, HttpHeaderNames.PROXY_AUTHENTICATE,
            HttpHeaderNames.PROXY_AUTHORIZATION, HttpHeaderNames.TE, HttpHeaderNames.TRAILER,
            HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderNames.UPGRADE, AsciiString.cached("proxy-connection"));

    private HopByHopHeaders() {
    }

    public static void strip(HttpHeaders headers) {
        for (String token : headers.getAll(HttpHeaderNames.CONNECTION)) {
            for (String name : token.split(",")) {
                String n = name.trim();
                if (!n.isEmpty()) {
                    headers.remove(n);
                }
            }
        }
        for (AsciiString n : NAMES) {
            headers.remove(n);
        }
    }
}
