package dev.tollgate.proxy;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponseStatus;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * A request target made canonical the way the upstream (vLLM: uvicorn + Starlette) will read it, so that
 * what Tollgate routes and meters is what the upstream serves: percent escapes decoded, {@code .} and
 * {@code ..} segments resolved, duplicate slashes collapsed, a trailing slash dropped. The upstream is sent
 * the canonical path (re-encoded) and the original query string, never the client's spelling.
 *
 * <p>What cannot be made canonical safely is refused ({@link Refused}): an invalid {@code %} escape, an encoded
 * {@code /}, a {@code \}, NUL or another control character, raw non-ASCII or a fragment, {@code ..} above the
 * root, bytes that are not UTF-8 once decoded; also targets that are not a path at all: absolute-form
 * ({@code http://host/...}) and authority-form targets, {@code CONNECT} and {@code OPTIONS *}.
 *
 * <p>Immutable; the parsing is stateless and thread-safe.
 */
public final class RequestPath {
    private final String path;
    private final String upstreamUri;

    private RequestPath(String path, String upstreamUri) {
        this.path = path;
        this.upstreamUri = upstreamUri;
    }

    /** Why a request target was refused: the status and OpenAI error code to answer with. */
    public static final class Refused extends Exception {
        private static final long serialVersionUID = 1L;
        private final transient HttpResponseStatus status;
        private final String code;

        Refused(HttpResponseStatus status, String code, String message) {
            super(message, null, false, false);
            this.status = status;
            this.code = code;
        }

        public HttpResponseStatus status() {
            return status;
        }

        public String code() {
            return code;
        }
    }

    /** The canonical, decoded path: starts with {@code /}, no empty, {@code .} or {@code ..} segments. */
    public String path() {
        return path;
    }

    /** What to send upstream: the canonical path, percent-encoded where needed, and the original query. */
    public String upstreamUri() {
        return upstreamUri;
    }

    /** Parses a request line's method and target. */
    public static RequestPath of(HttpMethod method, String target) throws Refused {
        if (HttpMethod.CONNECT.equals(method)) {
            throw new Refused(HttpResponseStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                    "CONNECT is not supported: Tollgate is a reverse proxy, not a tunnel.");
        }
        if (target.equals("*")) {
            throw new Refused(HttpResponseStatus.METHOD_NOT_ALLOWED, "method_not_allowed",
                    "Server-wide requests (" + method.name() + " *) are not supported; send a path.");
        }
        if (!target.startsWith("/")) {
            throw new Refused(HttpResponseStatus.BAD_REQUEST, "invalid_request_target",
                    "The request target must be a path (origin-form, e.g. /v1/chat/completions); "
                            + "absolute-form and authority-form targets are not accepted.");
        }
        int q = target.indexOf('?');
        String raw = q < 0 ? target : target.substring(0, q);
        if (alreadyCanonical(raw)) {
            // The common case (/v1/chat/completions): decoding and re-encoding would give back the same bytes.
            return new RequestPath(raw, target);
        }
        String query = q < 0 ? null : target.substring(q + 1);
        String decoded = decode(raw);
        List<String> segments = new ArrayList<>();
        int from = 1;
        while (from <= decoded.length()) {
            int slash = decoded.indexOf('/', from);
            int to = slash < 0 ? decoded.length() : slash;
            String seg = decoded.substring(from, to);
            if (seg.equals("..")) {
                if (segments.isEmpty()) {
                    throw invalid("'..' climbs above the root");
                }
                segments.remove(segments.size() - 1);
            } else if (!seg.isEmpty() && !seg.equals(".")) {
                segments.add(seg);
            }
            from = to + 1;
        }
        StringBuilder canonical = new StringBuilder(decoded.length() + 1);
        StringBuilder encoded = new StringBuilder(raw.length() + 8);
        for (String seg : segments) {
            canonical.append('/').append(seg);
            encoded.append('/');
            encodeSegment(seg, encoded);
        }
        if (segments.isEmpty()) {
            canonical.append('/');
            encoded.append('/');
        }
        if (query != null) {
            encoded.append('?').append(query);
        }
        return new RequestPath(canonical.toString(), encoded.toString());
    }

    /**
     * Whether {@code raw} (starting with {@code /}) is its own canonical form and encoding: only unreserved
     * characters (letters, digits, {@code - . _ ~}) between single slashes, no {@code .} or {@code ..} segment,
     * no trailing slash (except the root itself).
     */
    private static boolean alreadyCanonical(String raw) {
        int n = raw.length();
        if (n == 1) {
            return true;
        }
        if (raw.charAt(n - 1) == '/') {
            return false;
        }
        int segStart = 1;
        for (int i = 1; i <= n; i++) {
            char c = i < n ? raw.charAt(i) : '/';
            if (c == '/') {
                int len = i - segStart;
                if (len == 0 || (len == 1 && raw.charAt(segStart) == '.')
                        || (len == 2 && raw.charAt(segStart) == '.' && raw.charAt(segStart + 1) == '.')) {
                    return false;
                }
                segStart = i + 1;
            } else if (!(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
                    || c == '_' || c == '~')) {
                return false;
            }
        }
        return true;
    }

    private static Refused invalid(String why) {
        return new Refused(HttpResponseStatus.BAD_REQUEST, "invalid_path",
                "The request path cannot be made canonical: " + why + ".");
    }

    /** Percent-decodes the raw path (every {@code /} left is a raw separator) and checks it is clean UTF-8. */
    private static String decode(String raw) throws Refused {
        byte[] out = new byte[raw.length()];
        int n = 0;
        for (int i = 0; i < raw.length(); i++) {
            char c = raw.charAt(i);
            int b;
            if (c == '%') {
                int hi = i + 2 < raw.length() ? Character.digit(raw.charAt(i + 1), 16) : -1;
                int lo = hi >= 0 ? Character.digit(raw.charAt(i + 2), 16) : -1;
                if (hi < 0 || lo < 0) {
                    throw invalid("invalid percent escape");
                }
                b = hi << 4 | lo;
                i += 2;
                if (b == '/') {
                    throw invalid("an encoded '/' (%2F)");
                }
            } else if (c > 0x7e) {
                throw invalid("a raw non-ASCII character (percent-encode it)");
            } else if (c == '#') {
                throw invalid("a fragment ('#')");
            } else {
                b = c;
            }
            if (b == '\\') {
                throw invalid("a backslash");
            }
            if (b < 0x20 || b == 0x7f) {
                throw invalid("a NUL or control character");
            }
            if (b == ' ' && c == ' ') {
                throw invalid("a raw space");
            }
            out[n++] = (byte) b;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(out, 0, n)).toString();
        } catch (CharacterCodingException e) {
            throw invalid("the decoded bytes are not UTF-8");
        }
    }

    /** RFC 3986 pchar: unreserved, sub-delims, ':' and '@' stay; every other byte is percent-encoded. */
    private static void encodeSegment(String seg, StringBuilder sb) {
        for (byte b : seg.getBytes(StandardCharsets.UTF_8)) {
            int c = b & 0xff;
            boolean keep = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
                    || "-._~!$&'()*+,;=:@".indexOf(c) >= 0;
            if (keep) {
                sb.append((char) c);
            } else {
                sb.append('%').append(Character.toUpperCase(Character.forDigit(c >> 4, 16)))
                        .append(Character.toUpperCase(Character.forDigit(c & 15, 16)));
            }
        }
    }
}
