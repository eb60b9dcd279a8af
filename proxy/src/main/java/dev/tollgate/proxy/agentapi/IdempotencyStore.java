package dev.tollgate.proxy.agentapi;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.HexFormat;

/**
 * Answers to agent API POSTs sent with an {@code Idempotency-Key}, kept durably (table
 * {@code agent_idempotency}) per account and key with a hash of the request they answered, written in the same
 * transaction as the operation itself: a repeat gets the first answer, a repeat with another request (method,
 * path or body) is refused with 422, and a crash can never separate an operation from its stored answer.
 *
 * <p>Stateless; runs inside the caller's transaction (on the agent escrow thread).
 */
final class IdempotencyStore {
    /** Longest accepted key. */
    static final int MAX_KEY_LENGTH = 255;

    /** A stored answer and the hash of the request it answered. */
    record Stored(String requestHash, ApiAnswer answer) {
    }

    private IdempotencyStore() {
    }

    /** SHA-256 over method, path and body: what must match for a repeat to be the same request. */
    static String requestHash(String method, String path, byte[] body) {
        try {
            MessageDigest d = MessageDigest.getInstance("SHA-256");
            d.update((method + ' ' + path + '\n').getBytes(StandardCharsets.UTF_8));
            d.update(body);
            return HexFormat.of().formatHex(d.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    static Stored find(Connection c, String account, String key) throws SQLException {
        try (PreparedStatement ps = c.prepareStatement(
                "SELECT request_hash, status, body FROM agent_idempotency WHERE account = ? AND idem_key = ?")) {
            ps.setString(1, account);
            ps.setString(2, key);
            try (ResultSet rs = ps.executeQuery()) {
                return rs.next() ? new Stored(rs.getString(1), ApiAnswer.json(rs.getInt(2), rs.getString(3))) : null;
            }
        }
    }

    static void save(Connection c, String account, String key, String requestHash, ApiAnswer answer, long now)
            throws SQLException {
        try (PreparedStatement ps = c.prepareStatement("INSERT INTO agent_idempotency(account, idem_key, "
                + "request_hash, status, body, created_ms) VALUES (?, ?, ?, ?, ?, ?)")) {
            ps.setString(1, account);
            ps.setString(2, key);
            ps.setString(3, requestHash);
            ps.setInt(4, answer.status());
            ps.setString(5, answer.body());
            ps.setLong(6, now);
            ps.executeUpdate();
        }
    }
}
