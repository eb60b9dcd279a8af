package dev.tollgate.metering.tokens;

/**
 * Counts tokens locally when the upstream reports no usage. Backed by a real BPE tokenizer (jtokkit).
 *
 * <p>Threading: thread-safe; share one instance.
 */
public final class TokenEstimator {

    /** The default estimator (cl100k_base). */
    public static TokenEstimator standard() {
        throw new UnsupportedOperationException("todo");
    }

    /** Tokens in a piece of text. */
    public long count(CharSequence text) {
        throw new UnsupportedOperationException("todo");
    }

    /** Tokens in UTF-8 bytes (malformed sequences are replaced, never thrown on). */
    public long countUtf8(byte[] buf, int off, int len) {
        throw new UnsupportedOperationException("todo");
    }

    /** Prompt tokens of a chat request: message contents plus the per-message framing of chat templates. */
    public long countChat(java.util.List<String> messageContents) {
        throw new UnsupportedOperationException("todo");
    }
}
