package dev.tollgate.proxy;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Rewrites a request body's top-level {@code stream_options} by splicing bytes, not by re-serializing a tree:
 * every top-level {@code stream_options} member is cut out with one separating comma, and
 * {@code "stream_options":{"include_usage":true[,"continuous_usage_stats":true]}} is inserted right after the
 * opening brace. Every other byte (whitespace, escapes, number spellings, key order, nested
 * {@code stream_options} inside messages) is the client's. Member boundaries come from Jackson's streaming
 * parser (token byte offsets).
 *
 * <p>Stateless and thread-safe.
 */
final class StreamOptionsSplice {
    private static final JsonFactory JSON = new JsonFactory();
    private static final String NAME = "stream_options";

    private StreamOptionsSplice() {
    }

    /**
     * @param body            a JSON object (already validated by the caller)
     * @param continuousUsage also ask for {@code continuous_usage_stats}
     */
    static byte[] apply(byte[] body, boolean continuousUsage) {
        String injected = "\"" + NAME + "\":{\"include_usage\":true"
                + (continuousUsage ? ",\"continuous_usage_stats\":true" : "") + "}";
        List<long[]> cuts = new ArrayList<>(1);
        int open;
        boolean keptAny = false;
        try (JsonParser p = JSON.createParser(body)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new IllegalArgumentException("not a JSON object");
            }
            open = indexOf(body, (int) p.currentTokenLocation().getByteOffset(), '{');
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                int nameStart = indexOf(body, (int) p.currentTokenLocation().getByteOffset(), '"');
                boolean target = NAME.equals(p.currentName());
                p.nextToken();
                p.skipChildren();
                p.finishToken();
                int valueEnd = (int) p.currentLocation().getByteOffset();
                if (!target) {
                    keptAny = true;
                    continue;
                }
                if (keptAny) {
                    // A kept member precedes: cut from the comma after it to the end of this value.
                    cuts.add(new long[] {lastSignificantBefore(body, nameStart), valueEnd});
                } else {
                    // First (or all before were cut): cut through the following comma, if any.
                    int next = firstSignificantFrom(body, valueEnd);
                    cuts.add(new long[] {nameStart, body[next] == ',' ? next + 1 : valueEnd});
                }
            }
        } catch (IOException e) {
            throw new IllegalArgumentException("not valid JSON", e);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream(body.length + injected.length() + 1);
        out.write(body, 0, open + 1);
        byte[] ins = injected.getBytes(StandardCharsets.US_ASCII);
        out.write(ins, 0, ins.length);
        if (keptAny) {
            out.write(',');
        }
        int pos = open + 1;
        for (long[] c : cuts) {
            out.write(body, pos, (int) c[0] - pos);
            pos = (int) c[1];
        }
        out.write(body, pos, body.length - pos);
        return out.toByteArray();
    }

    /** The first {@code c} at or after {@code from} (Jackson's token offsets may point before a token). */
    private static int indexOf(byte[] b, int from, char c) {
        for (int i = Math.max(0, from); i < b.length; i++) {
            if (b[i] == c) {
                return i;
            }
        }
        throw new IllegalArgumentException("expected '" + c + "'");
    }

    private static int lastSignificantBefore(byte[] b, int at) {
        int i = at - 1;
        while (i >= 0 && isWhitespace(b[i])) {
            i--;
        }
        return i;
    }

    private static int firstSignificantFrom(byte[] b, int at) {
        int i = at;
        while (i < b.length && isWhitespace(b[i])) {
            i++;
        }
        return i;
    }

    private static boolean isWhitespace(byte c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    }
}
