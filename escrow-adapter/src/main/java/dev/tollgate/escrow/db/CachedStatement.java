package dev.tollgate.escrow.db;

import java.sql.PreparedStatement;
import java.sql.SQLException;

/**
 * A cached compiled statement as work inside a transaction sees it: every call goes straight to the real statement,
 * except {@code close()}, which only clears the parameters (the {@link StatementCache} owns the statement and closes
 * it with the connection). A plain class rather than a {@code java.lang.reflect.Proxy}, because the journal writer
 * calls a setter or an execute on it for every column of every row it writes, and a proxy boxes each argument into
 * an array and goes through {@code Method.invoke}. The methods below are the whole {@link PreparedStatement}
 * interface, delegated one for one (generated from the interface, not written by hand).
 *
 * <p>Threading: not thread-safe; used under {@link Database}'s transaction lock only, like its cache.
 */
@SuppressWarnings("deprecation")
final class CachedStatement implements PreparedStatement {
    private final PreparedStatement real;

    CachedStatement(PreparedStatement real) {
        this.real = real;
    }

    @Override
    public void addBatch() throws SQLException {
        real.addBatch();
    }

    @Override
    public void addBatch(String a0) throws SQLException {
        real.addBatch(a0);
    }

    @Override
    public void cancel() throws SQLException {
        real.cancel();
    }

    @Override
    public void clearBatch() throws SQLException {
        real.clearBatch();
    }

    @Override
    public void clearParameters() throws SQLException {
        real.clearParameters();
    }

    @Override
    public void clearWarnings() throws SQLException {
        real.clearWarnings();
    }

    @Override
    public void close() throws SQLException {
        real.clearParameters(); // The cache owns the compiled statement: closing a view only clears it.
    }

    @Override
    public void closeOnCompletion() throws SQLException {
        real.closeOnCompletion();
    }

    @Override
    public String enquoteIdentifier(String a0, boolean a1) throws SQLException {
        return real.enquoteIdentifier(a0, a1);
    }

    @Override
    public String enquoteLiteral(String a0) throws SQLException {
        return real.enquoteLiteral(a0);
    }

    @Override
    public String enquoteNCharLiteral(String a0) throws SQLException {
        return real.enquoteNCharLiteral(a0);
    }

    @Override
    public boolean execute() throws SQLException {
        return real.execute();
    }

    @Override
    public boolean execute(String a0) throws SQLException {
        return real.execute(a0);
    }

    @Override
    public boolean execute(String a0, String[] a1) throws SQLException {
        return real.execute(a0, a1);
    }

    @Override
    public boolean execute(String a0, int a1) throws SQLException {
        return real.execute(a0, a1);
    }

    @Override
    public boolean execute(String a0, int[] a1) throws SQLException {
        return real.execute(a0, a1);
    }

    @Override
    public int[] executeBatch() throws SQLException {
        return real.executeBatch();
    }

    @Override
    public long[] executeLargeBatch() throws SQLException {
        return real.executeLargeBatch();
    }

    @Override
    public long executeLargeUpdate() throws SQLException {
        return real.executeLargeUpdate();
    }

    @Override
    public long executeLargeUpdate(String a0) throws SQLException {
        return real.executeLargeUpdate(a0);
    }

    @Override
    public long executeLargeUpdate(String a0, String[] a1) throws SQLException {
        return real.executeLargeUpdate(a0, a1);
    }

    @Override
    public long executeLargeUpdate(String a0, int a1) throws SQLException {
        return real.executeLargeUpdate(a0, a1);
    }

    @Override
    public long executeLargeUpdate(String a0, int[] a1) throws SQLException {
        return real.executeLargeUpdate(a0, a1);
    }

    @Override
    public java.sql.ResultSet executeQuery() throws SQLException {
        return real.executeQuery();
    }

    @Override
    public java.sql.ResultSet executeQuery(String a0) throws SQLException {
        return real.executeQuery(a0);
    }

    @Override
    public int executeUpdate() throws SQLException {
        return real.executeUpdate();
    }

    @Override
    public int executeUpdate(String a0) throws SQLException {
        return real.executeUpdate(a0);
    }

    @Override
    public int executeUpdate(String a0, String[] a1) throws SQLException {
        return real.executeUpdate(a0, a1);
    }

    @Override
    public int executeUpdate(String a0, int a1) throws SQLException {
        return real.executeUpdate(a0, a1);
    }

    @Override
    public int executeUpdate(String a0, int[] a1) throws SQLException {
        return real.executeUpdate(a0, a1);
    }

    @Override
    public java.sql.Connection getConnection() throws SQLException {
        return real.getConnection();
    }

    @Override
    public int getFetchDirection() throws SQLException {
        return real.getFetchDirection();
    }

    @Override
    public int getFetchSize() throws SQLException {
        return real.getFetchSize();
    }

    @Override
    public java.sql.ResultSet getGeneratedKeys() throws SQLException {
        return real.getGeneratedKeys();
    }

    @Override
    public long getLargeMaxRows() throws SQLException {
        return real.getLargeMaxRows();
    }

    @Override
    public long getLargeUpdateCount() throws SQLException {
        return real.getLargeUpdateCount();
    }

    @Override
    public int getMaxFieldSize() throws SQLException {
        return real.getMaxFieldSize();
    }

    @Override
    public int getMaxRows() throws SQLException {
        return real.getMaxRows();
    }

    @Override
    public java.sql.ResultSetMetaData getMetaData() throws SQLException {
        return real.getMetaData();
    }

    @Override
    public boolean getMoreResults() throws SQLException {
        return real.getMoreResults();
    }

    @Override
    public boolean getMoreResults(int a0) throws SQLException {
        return real.getMoreResults(a0);
    }

    @Override
    public java.sql.ParameterMetaData getParameterMetaData() throws SQLException {
        return real.getParameterMetaData();
    }

    @Override
    public int getQueryTimeout() throws SQLException {
        return real.getQueryTimeout();
    }

    @Override
    public java.sql.ResultSet getResultSet() throws SQLException {
        return real.getResultSet();
    }

    @Override
    public int getResultSetConcurrency() throws SQLException {
        return real.getResultSetConcurrency();
    }

    @Override
    public int getResultSetHoldability() throws SQLException {
        return real.getResultSetHoldability();
    }

    @Override
    public int getResultSetType() throws SQLException {
        return real.getResultSetType();
    }

    @Override
    public int getUpdateCount() throws SQLException {
        return real.getUpdateCount();
    }

    @Override
    public java.sql.SQLWarning getWarnings() throws SQLException {
        return real.getWarnings();
    }

    @Override
    public boolean isCloseOnCompletion() throws SQLException {
        return real.isCloseOnCompletion();
    }

    @Override
    public boolean isClosed() {
        return false;
    }

    @Override
    public boolean isPoolable() throws SQLException {
        return real.isPoolable();
    }

    @Override
    public boolean isSimpleIdentifier(String a0) throws SQLException {
        return real.isSimpleIdentifier(a0);
    }

    @Override
    public boolean isWrapperFor(Class<?> a0) throws SQLException {
        return real.isWrapperFor(a0);
    }

    @Override
    public void setArray(int a0, java.sql.Array a1) throws SQLException {
        real.setArray(a0, a1);
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1) throws SQLException {
        real.setAsciiStream(a0, a1);
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        real.setAsciiStream(a0, a1, a2);
    }

    @Override
    public void setAsciiStream(int a0, java.io.InputStream a1, long a2) throws SQLException {
        real.setAsciiStream(a0, a1, a2);
    }

    @Override
    public void setBigDecimal(int a0, java.math.BigDecimal a1) throws SQLException {
        real.setBigDecimal(a0, a1);
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1) throws SQLException {
        real.setBinaryStream(a0, a1);
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        real.setBinaryStream(a0, a1, a2);
    }

    @Override
    public void setBinaryStream(int a0, java.io.InputStream a1, long a2) throws SQLException {
        real.setBinaryStream(a0, a1, a2);
    }

    @Override
    public void setBlob(int a0, java.io.InputStream a1) throws SQLException {
        real.setBlob(a0, a1);
    }

    @Override
    public void setBlob(int a0, java.io.InputStream a1, long a2) throws SQLException {
        real.setBlob(a0, a1, a2);
    }

    @Override
    public void setBlob(int a0, java.sql.Blob a1) throws SQLException {
        real.setBlob(a0, a1);
    }

    @Override
    public void setBoolean(int a0, boolean a1) throws SQLException {
        real.setBoolean(a0, a1);
    }

    @Override
    public void setByte(int a0, byte a1) throws SQLException {
        real.setByte(a0, a1);
    }

    @Override
    public void setBytes(int a0, byte[] a1) throws SQLException {
        real.setBytes(a0, a1);
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1) throws SQLException {
        real.setCharacterStream(a0, a1);
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1, int a2) throws SQLException {
        real.setCharacterStream(a0, a1, a2);
    }

    @Override
    public void setCharacterStream(int a0, java.io.Reader a1, long a2) throws SQLException {
        real.setCharacterStream(a0, a1, a2);
    }

    @Override
    public void setClob(int a0, java.io.Reader a1) throws SQLException {
        real.setClob(a0, a1);
    }

    @Override
    public void setClob(int a0, java.io.Reader a1, long a2) throws SQLException {
        real.setClob(a0, a1, a2);
    }

    @Override
    public void setClob(int a0, java.sql.Clob a1) throws SQLException {
        real.setClob(a0, a1);
    }

    @Override
    public void setCursorName(String a0) throws SQLException {
        real.setCursorName(a0);
    }

    @Override
    public void setDate(int a0, java.sql.Date a1) throws SQLException {
        real.setDate(a0, a1);
    }

    @Override
    public void setDate(int a0, java.sql.Date a1, java.util.Calendar a2) throws SQLException {
        real.setDate(a0, a1, a2);
    }

    @Override
    public void setDouble(int a0, double a1) throws SQLException {
        real.setDouble(a0, a1);
    }

    @Override
    public void setEscapeProcessing(boolean a0) throws SQLException {
        real.setEscapeProcessing(a0);
    }

    @Override
    public void setFetchDirection(int a0) throws SQLException {
        real.setFetchDirection(a0);
    }

    @Override
    public void setFetchSize(int a0) throws SQLException {
        real.setFetchSize(a0);
    }

    @Override
    public void setFloat(int a0, float a1) throws SQLException {
        real.setFloat(a0, a1);
    }

    @Override
    public void setInt(int a0, int a1) throws SQLException {
        real.setInt(a0, a1);
    }

    @Override
    public void setLargeMaxRows(long a0) throws SQLException {
        real.setLargeMaxRows(a0);
    }

    @Override
    public void setLong(int a0, long a1) throws SQLException {
        real.setLong(a0, a1);
    }

    @Override
    public void setMaxFieldSize(int a0) throws SQLException {
        real.setMaxFieldSize(a0);
    }

    @Override
    public void setMaxRows(int a0) throws SQLException {
        real.setMaxRows(a0);
    }

    @Override
    public void setNCharacterStream(int a0, java.io.Reader a1) throws SQLException {
        real.setNCharacterStream(a0, a1);
    }

    @Override
    public void setNCharacterStream(int a0, java.io.Reader a1, long a2) throws SQLException {
        real.setNCharacterStream(a0, a1, a2);
    }

    @Override
    public void setNClob(int a0, java.io.Reader a1) throws SQLException {
        real.setNClob(a0, a1);
    }

    @Override
    public void setNClob(int a0, java.io.Reader a1, long a2) throws SQLException {
        real.setNClob(a0, a1, a2);
    }

    @Override
    public void setNClob(int a0, java.sql.NClob a1) throws SQLException {
        real.setNClob(a0, a1);
    }

    @Override
    public void setNString(int a0, String a1) throws SQLException {
        real.setNString(a0, a1);
    }

    @Override
    public void setNull(int a0, int a1) throws SQLException {
        real.setNull(a0, a1);
    }

    @Override
    public void setNull(int a0, int a1, String a2) throws SQLException {
        real.setNull(a0, a1, a2);
    }

    @Override
    public void setObject(int a0, Object a1) throws SQLException {
        real.setObject(a0, a1);
    }

    @Override
    public void setObject(int a0, Object a1, int a2) throws SQLException {
        real.setObject(a0, a1, a2);
    }

    @Override
    public void setObject(int a0, Object a1, int a2, int a3) throws SQLException {
        real.setObject(a0, a1, a2, a3);
    }

    @Override
    public void setObject(int a0, Object a1, java.sql.SQLType a2) throws SQLException {
        real.setObject(a0, a1, a2);
    }

    @Override
    public void setObject(int a0, Object a1, java.sql.SQLType a2, int a3) throws SQLException {
        real.setObject(a0, a1, a2, a3);
    }

    @Override
    public void setPoolable(boolean a0) throws SQLException {
        real.setPoolable(a0);
    }

    @Override
    public void setQueryTimeout(int a0) throws SQLException {
        real.setQueryTimeout(a0);
    }

    @Override
    public void setRef(int a0, java.sql.Ref a1) throws SQLException {
        real.setRef(a0, a1);
    }

    @Override
    public void setRowId(int a0, java.sql.RowId a1) throws SQLException {
        real.setRowId(a0, a1);
    }

    @Override
    public void setSQLXML(int a0, java.sql.SQLXML a1) throws SQLException {
        real.setSQLXML(a0, a1);
    }

    @Override
    public void setShort(int a0, short a1) throws SQLException {
        real.setShort(a0, a1);
    }

    @Override
    public void setString(int a0, String a1) throws SQLException {
        real.setString(a0, a1);
    }

    @Override
    public void setTime(int a0, java.sql.Time a1) throws SQLException {
        real.setTime(a0, a1);
    }

    @Override
    public void setTime(int a0, java.sql.Time a1, java.util.Calendar a2) throws SQLException {
        real.setTime(a0, a1, a2);
    }

    @Override
    public void setTimestamp(int a0, java.sql.Timestamp a1) throws SQLException {
        real.setTimestamp(a0, a1);
    }

    @Override
    public void setTimestamp(int a0, java.sql.Timestamp a1, java.util.Calendar a2) throws SQLException {
        real.setTimestamp(a0, a1, a2);
    }

    @Override
    public void setURL(int a0, java.net.URL a1) throws SQLException {
        real.setURL(a0, a1);
    }

    @Override
    public void setUnicodeStream(int a0, java.io.InputStream a1, int a2) throws SQLException {
        real.setUnicodeStream(a0, a1, a2);
    }

    @Override
    public <T> T unwrap(Class<T> a0) throws SQLException {
        return real.unwrap(a0);
    }
}
