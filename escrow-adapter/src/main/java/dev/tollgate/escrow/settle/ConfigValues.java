package dev.tollgate.escrow.settle;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Strict reading of configuration values from a parsed YAML/JSON tree. Every reader names the key's full path
 * in its error ({@code settlement.accounts.ag_1.batch_calls must be a non-negative integer, got "1O0"}) and
 * never falls back to a default on a wrong value: a missing or null key takes the default, anything present
 * must have the right type and range. Errors are {@link IllegalArgumentException}s with a one-line message.
 *
 * <p>Threading: stateless.
 */
public final class ConfigValues {
    private ConfigValues() {
    }

    /** {@code parent.field} if present and not null, else null. */
    private static JsonNode value(JsonNode parent, String field) {
        JsonNode v = parent == null ? null : parent.get(field);
        return v == null || v.isNull() || v.isMissingNode() ? null : v;
    }

    /** The path of a child key: {@code where + "." + field}, or just {@code field} at the root. */
    public static String path(String where, String field) {
        return where == null || where.isEmpty() ? field : where + "." + field;
    }

    /** How a wrong value is shown in an error: strings quoted, numbers and booleans as written. */
    public static String shown(JsonNode v) {
        if (v.isTextual()) {
            return "\"" + v.asText() + "\"";
        }
        if (v.isObject()) {
            return "a mapping";
        }
        if (v.isArray()) {
            return "a list";
        }
        return v.asText();
    }

    /** An integer in {@code [min, max]}; a string, fraction, boolean or out-of-range value is an error. */
    public static long integer(JsonNode parent, String where, String field, long dflt, long min, long max) {
        JsonNode v = value(parent, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < min || v.asLong() > max) {
            throw new IllegalArgumentException(path(where, field) + " must be " + integerRange(min, max) + ", got "
                    + shown(v));
        }
        return v.asLong();
    }

    /** An integer that fits an {@code int}, in {@code [min, max]}. */
    public static int intValue(JsonNode parent, String where, String field, int dflt, int min, int max) {
        return (int) integer(parent, where, field, dflt, min, max);
    }

    private static String integerRange(long min, long max) {
        // An upper bound at the size of an int or beyond is a technical limit, not worth naming.
        if (min == 0 && max >= Integer.MAX_VALUE) {
            return "a non-negative integer";
        }
        if (min == 1 && max >= Integer.MAX_VALUE) {
            return "a positive integer";
        }
        return "an integer from " + min + " to " + max;
    }

    /** A YAML boolean ({@code true}/{@code false}); a string such as {@code "yes"} or a number is an error. */
    public static boolean bool(JsonNode parent, String where, String field, boolean dflt) {
        JsonNode v = value(parent, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isBoolean()) {
            throw new IllegalArgumentException(path(where, field) + " must be true or false, got " + shown(v));
        }
        return v.asBoolean();
    }

    /** A string (a number or boolean where text is expected is an error). */
    public static String string(JsonNode parent, String where, String field, String dflt) {
        JsonNode v = value(parent, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isTextual()) {
            throw new IllegalArgumentException(path(where, field) + " must be a string, got " + shown(v));
        }
        return v.asText();
    }

    /** One of {@code allowed} (listed in the error in the given order). */
    public static String oneOf(JsonNode parent, String where, String field, String dflt, List<String> allowed) {
        JsonNode v = value(parent, field);
        if (v == null) {
            return dflt;
        }
        if (!v.isTextual() || !allowed.contains(v.asText())) {
            throw new IllegalArgumentException(path(where, field) + " must be one of " + String.join(", ", allowed)
                    + ", got " + shown(v));
        }
        return v.asText();
    }

    /**
     * A decimal written as a string or a YAML number ({@code "0.10"}, {@code 5}), returned as its exact text;
     * anything that is not a plain non-negative decimal is an error.
     */
    public static String decimal(JsonNode parent, String where, String field, String dflt) {
        JsonNode v = value(parent, field);
        if (v == null) {
            return dflt;
        }
        String s = v.isTextual() || v.isNumber() ? v.asText().trim() : null;
        if (s == null || !s.matches("[0-9]+(\\.[0-9]+)?")) {
            throw new IllegalArgumentException(path(where, field) + " must be a non-negative decimal such as \"0.10\", got "
                    + shown(v));
        }
        return s;
    }

    /** Checks that {@code n} is a mapping whose keys are all in {@code allowed}. */
    public static void only(JsonNode n, String where, Set<String> allowed) {
        if (!n.isObject()) {
            throw new IllegalArgumentException(where + " must be a mapping, got " + shown(n));
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!allowed.contains(f)) {
                throw new IllegalArgumentException("unknown key '" + f + "' in " + where + " (known: "
                        + String.join(", ", new java.util.TreeSet<>(allowed)) + ")");
            }
        }
    }
}
