package dev.tollgate.metering.json;

/** Random chat chunks with known usage and text between random members the scanner ignores. */
public final class RandomChunks {
    private static final String[] TEXTS = {" the", " \"quoted\"", " back\\slash", "\ttab", " caf\u00e9", " \u4e2d\u6587",
        " \ud83d\ude00", " {\"usage\":1}", "", " ]}", "\\\"", "\n"};
    private static final String[] IGNORED = {"id", "object", "created", "model", "system_fingerprint", "logprobs",
        "prompt_logprobs", "kv_transfer_params", "service_tier", "x", "usage_", "choice", "contents", "prompt_token",
        "completion_tokenz"};

    /** {@code s} as a JSON string body; non-ASCII as {@code \\u} escapes when {@code escapeAll}. */
    public static String escape(String s, boolean escapeAll) {
        StringBuilder sb = new StringBuilder();
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                sb.append('\\').append(c);
            } else if (c == '\n') {
                sb.append("\\n");
            } else if (c == '\t') {
                sb.append(escapeAll ? "\\u0009" : "\\t");
            } else if (c < 0x20 || (escapeAll && c > 0x7e)) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }

    private RandomChunks() {
    }

    private static String ignored(RandomJson gen) {
        StringBuilder sb = new StringBuilder();
        int n = gen.nextInt(3);
        for (int k = 0; k < n; k++) {
            sb.append('"').append(IGNORED[gen.nextInt(IGNORED.length)]).append("\":").append(gen.value(3)).append(',');
        }
        return sb.toString();
    }

    /**
     * A chunk with one choice whose delta text (appended to {@code expectedText}) and usage are known,
     * surrounded by random ignored members at every level.
     */
    public static String chunk(RandomJson gen, long prompt, long completion, StringBuilder expectedText) {
        String[] parts = parts(gen, prompt, completion, expectedText);
        return parts[0] + "," + parts[1] + "}";
    }

    /**
     * The same chunk in two parts: everything before the top-level usage member (without the comma that
     * precedes it), and the usage member; the chunk is {@code parts[0] + "," + parts[1] + "}"}, and without
     * usage it is {@code parts[0] + "}"}.
     */
    public static String[] parts(RandomJson gen, long prompt, long completion, StringBuilder expectedText) {
        String t = TEXTS[gen.nextInt(TEXTS.length)] + TEXTS[gen.nextInt(TEXTS.length)];
        expectedText.append(t);
        String head = "{" + ignored(gen) + "\"choices\":[{" + ignored(gen) + "\"index\":0," + ignored(gen)
                + "\"delta\":{" + ignored(gen) + "\"content\":\"" + escape(t, gen.nextInt(2) == 0) + "\"},"
                + ignored(gen) + "\"finish_reason\":null}]";
        String tail = ignored(gen);
        if (!tail.isEmpty()) {
            head += "," + tail.substring(0, tail.length() - 1);
        }
        String usage = "\"usage\":{" + ignored(gen) + "\"prompt_tokens\":" + prompt + "," + ignored(gen)
                + "\"completion_tokens\":" + completion + "}";
        return new String[] {head, usage};
    }
}
