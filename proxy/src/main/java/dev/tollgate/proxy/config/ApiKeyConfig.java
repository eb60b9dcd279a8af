package dev.tollgate.proxy.config;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A client API key, stored only as the hex SHA-256 of the key ({@code ./tollgate hash-key} prints it).
 *
 * @param sha256  hex SHA-256 of the bearer key
 * @param account the account (payer agent id) the key belongs to
 */
public record ApiKeyConfig(@JsonProperty("sha256") String sha256, @JsonProperty("account") String account) {
}
