package dev.tollgate.proxy.http;

import dev.tollgate.proxy.config.ApiKeyConfig;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * Client API keys, held only as SHA-256 digests and compared in constant time (every configured key is
 * compared, whatever matches). With no keys configured every request belongs to {@link #ANONYMOUS}.
 *
 * <p>Threading: immutable, thread-safe.
 */
public final class ApiKeys {
    public static final String ANONYMOUS = "anonymous";

    private final byte[][] digests;
    private final String[] accounts;

    public ApiKeys(List<ApiKeyConfig> keys) {
        digests = new byte[keys.size()][];
        accounts = new String[keys.size()];
        for (int i = 0; i < keys.size(); i++) {
            digests[i] = HexFormat.of().parseHex(keys.get(i).sha256().toLowerCase());
            accounts[i] = keys.get(i).account();
        }
    }

    public boolean enabled() {
        return digests.length > 0;
    }

    /** The account of an {@code Authorization} header value, or null when it names no known key. */
    public String accountFor(String authorizationHeader) {
        if (!enabled()) {
            return ANONYMOUS;
        }
        if (authorizationHeader == null || !authorizationHeader.regionMatches(true, 0, "Bearer ", 0, 7)) {
            return null;
        }
        byte[] presented = sha256(authorizationHeader.substring(7).trim());
        String found = null;
        for (int i = 0; i < digests.length; i++) {
            if (MessageDigest.isEqual(digests[i], presented) && found == null) {
                found = accounts[i];
            }
        }
        return found;
    }

    /** Hex SHA-256 of a key, as it goes in the config. */
    public static String hash(String key) {
        return HexFormat.of().formatHex(sha256(key));
    }

    private static byte[] sha256(String s) {
        // One digest per thread: looking the algorithm up per request costs more than hashing a key.
        return SHA256.get().digest(s.getBytes(StandardCharsets.UTF_8));
    }

    private static final ThreadLocal<MessageDigest> SHA256 = ThreadLocal.withInitial(() -> {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    });
}
