package dev.tollgate.metering.tokens;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import dev.tollgate.metering.NonBlockingThreads;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * Counts tokens locally when the upstream reports no usage. Backed by a real BPE tokenizer (jtokkit,
 * {@code cl100k_base}). Counts are estimates for models with other vocabularies; usage records that use them
 * say {@code usage_source: estimated}.
 *
 * <p>Threading: thread-safe; share one instance.
 */
public final class TokenEstimator {
    /** Chat templates wrap each message in a few tokens (role, separators): OpenAI documents about 4. */
    public static final int TOKENS_PER_MESSAGE = 4;
    /** The reply is primed with the assistant's role: about 3 tokens. */
    public static final int TOKENS_PER_REPLY = 3;

    private static final TokenEstimator STANDARD = new TokenEstimator(
            Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.CL100K_BASE), NonBlockingThreads.none());

    private final Encoding encoding;
    private final NonBlockingThreads guard;

    private TokenEstimator(Encoding encoding, NonBlockingThreads guard) {
        this.encoding = encoding;
        this.guard = guard;
    }

    /** The same tokenizer, counting every call made on a thread that must not block (tokenizing is heavy). */
    public TokenEstimator guardedBy(NonBlockingThreads threads) {
        return new TokenEstimator(encoding, threads);
    }

    /** The default estimator (cl100k_base). */
    public static TokenEstimator standard() {
        return STANDARD;
    }

    /** Tokens in a piece of text. */
    public long count(CharSequence text) {
        if (text.length() == 0) {
            return 0;
        }
        guard.check("tokenizer");
        return encoding.countTokensOrdinary(text.toString());
    }

    /** Tokens in UTF-8 bytes (malformed sequences are replaced, never thrown on). */
    public long countUtf8(byte[] buf, int off, int len) {
        return len == 0 ? 0 : count(new String(buf, off, len, StandardCharsets.UTF_8));
    }

    /** Prompt tokens of a chat request: message contents plus the per-message framing of chat templates. */
    public long countChat(List<String> messageContents) {
        long t = TOKENS_PER_REPLY;
        for (String m : messageContents) {
            t += TOKENS_PER_MESSAGE + count(m);
        }
        return t;
    }
}
