package dev.tollgate.escrow.db;

import java.lang.reflect.InvocationHandler;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.SQLException;
import java.util.HashMap;
import java.util.Map;

/**
 * Prepared statements kept compiled across transactions. SQLite compiles a statement on every
 * {@code prepareStatement}; the ledger runs the same few dozen statements for every request, so compiling them
 * once saves most of its CPU. The cache hands out a view of the connection whose {@code prepareStatement(sql)}
 * returns the cached statement and whose statements' {@code close()} only clears parameters, so callers keep
 * the ordinary try-with-resources JDBC idiom.
 *
 * <p>Threading: not thread-safe; used under {@link Database}'s transaction lock only.
 */
final class StatementCache {
    private final Connection connection;
    private final Map<String, PreparedStatement> compiled = new HashMap<>();
    private final Map<String, PreparedStatement> views = new HashMap<>();
    private final Connection view;

    StatementCache(Connection connection) {
        this.connection = connection;
        this.view = (Connection) Proxy.newProxyInstance(Connection.class.getClassLoader(),
                new Class<?>[] {Connection.class}, new ConnectionView());
    }

    /** The connection as work inside a transaction sees it. */
    Connection connection() {
        return view;
    }

    private PreparedStatement prepare(String sql) throws SQLException {
        PreparedStatement v = views.get(sql);
        if (v != null) {
            return v;
        }
        PreparedStatement real = connection.prepareStatement(sql);
        compiled.put(sql, real);
        v = new CachedStatement(real);
        views.put(sql, v);
        return v;
    }

    void close() {
        for (PreparedStatement ps : compiled.values()) {
            try {
                ps.close();
            } catch (SQLException e) {
                // Closing: nothing to protect.
            }
        }
        compiled.clear();
        views.clear();
    }

    private static Object invoke(Object target, Method m, Object[] args) throws Throwable {
        try {
            return m.invoke(target, args);
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    private final class ConnectionView implements InvocationHandler {
        @Override
        public Object invoke(Object proxy, Method m, Object[] args) throws Throwable {
            if (m.getName().equals("prepareStatement") && args != null && args.length == 1
                    && args[0] instanceof String sql) {
                return prepare(sql);
            }
            if (m.getName().equals("close")) {
                return null; // The database owns the connection.
            }
            return StatementCache.invoke(connection, m, args);
        }
    }
}
