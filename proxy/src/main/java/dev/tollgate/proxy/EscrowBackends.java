package dev.tollgate.proxy;

import dev.tollgate.escrow.db.Database;
import dev.tollgate.escrow.port.EscrowPort;
import dev.tollgate.escrow.purpleflea.PurpleFleaEscrow;
import java.net.URI;
import java.time.Duration;
import java.util.function.Function;
import dev.tollgate.escrow.settle.SettlementConfig;
import dev.tollgate.proxy.config.ConfigException;

/** Picks the escrow backend the configuration names. */
final class EscrowBackends {
    private EscrowBackends() {
    }

    /** Builds the remote backend on the settlement database, or null for the embedded ledger. */
    static Function<Database, EscrowPort> forConfig(SettlementConfig cfg) {
        if (cfg.backend().equals("embedded")) {
            return null;
        }
        if (cfg.purpleFleaUrl() == null || cfg.purpleFleaKey() == null) {
            throw new ConfigException("settlement.backend purpleflea needs purpleflea_url and purpleflea_api_key(_env)");
        }
        URI base = URI.create(cfg.purpleFleaUrl());
        return db -> new PurpleFleaEscrow(base, cfg.purpleFleaKey(), db, cfg.minLockMicros(), Duration.ofSeconds(10));
    }
}
