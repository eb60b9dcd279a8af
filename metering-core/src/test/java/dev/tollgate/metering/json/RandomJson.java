package dev.tollgate.metering.json;

import java.util.Random;

/**
 * Writes random well-formed JSON values of the kinds vLLM puts in members metering ignores (logprobs, tool
 * call arguments, fingerprints): nested objects and arrays, and strings full of what a skip could trip on:
 * brackets, escaped quotes, runs of backslashes, unicode escapes (surrogate pairs included), raw UTF-8.
 */
public final class RandomJson {
    private static final String[] PIECES = {
        "a", "usage", "{", "}", "[", "]", ",", ":", " ", "\\\"", "\\\\", "\\\\\\\"", "\\\\\\\\", "\\n", "\\t", "\\/",
        "\\u0022", "\\u005c", "\\u005C", "\\ud83d\\ude00", "\u00e9", "\u4e2d", "\ud83d\ude00", "\\\"prompt_tokens\\\":7",
        "choices", "\\\\\\\\\\\"", "\\b", "\\f", "\\r",
    };

    private final Random rnd;

    public RandomJson(long seed) {
        this.rnd = new Random(seed);
    }

    /** The body of a JSON string (without quotes): any mix of {@link #PIECES}. */
    public String stringBody() {
        StringBuilder sb = new StringBuilder();
        int n = rnd.nextInt(12);
        for (int k = 0; k < n; k++) {
            sb.append(PIECES[rnd.nextInt(PIECES.length)]);
        }
        return sb.toString();
    }

    /** A random value nested at most {@code depth} more levels. */
    public String value(int depth) {
        int kind = rnd.nextInt(depth > 0 ? 8 : 5);
        return switch (kind) {
            case 0 -> "\"" + stringBody() + "\"";
            case 1 -> rnd.nextBoolean() ? "null" : rnd.nextBoolean() ? "true" : "false";
            case 2 -> String.valueOf(rnd.nextInt(2_000_000) - 1_000_000);
            case 3 -> "-" + rnd.nextInt(10) + "." + rnd.nextInt(1000) + "e-" + rnd.nextInt(9);
            case 4 -> "\"" + stringBody() + "\"";
            case 5, 6 -> object(depth - 1);
            default -> array(depth - 1);
        };
    }

    private String ws() {
        return switch (rnd.nextInt(6)) {
            case 0 -> " ";
            case 1 -> "\t";
            default -> "";
        };
    }

    /** A random object nested at most {@code depth} more levels. */
    public String object(int depth) {
        StringBuilder sb = new StringBuilder("{").append(ws());
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
            if (k > 0) {
                sb.append(',').append(ws());
            }
            sb.append('"').append(stringBody()).append('"').append(ws()).append(':').append(ws()).append(value(depth))
                    .append(ws());
        }
        return sb.append('}').toString();
    }

    /** A random array nested at most {@code depth} more levels. */
    public String array(int depth) {
        StringBuilder sb = new StringBuilder("[").append(ws());
        int n = rnd.nextInt(4);
        for (int k = 0; k < n; k++) {
            if (k > 0) {
                sb.append(',').append(ws());
            }
            sb.append(value(depth)).append(ws());
        }
        return sb.append(']').toString();
    }

    public int nextInt(int bound) {
        return rnd.nextInt(bound);
    }
}
