/* sql: the generic statements of both backends (select, count, insert, update, delete by
 * id), written once. SQL text is built only from the store's own table and column names
 * (never from input); mark is the backend's parameter character: '?' for SQLite's ?N, '$'
 * for PostgreSQL's $N. */
#include <stdarg.h>
#include <stdio.h>

#include "store/store_int.h"

__attribute__((format(printf, 2, 3))) static void put(vg__sql_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->s + b->n, sizeof(b->s) - b->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->n = b->n + (size_t)k < sizeof(b->s) ? b->n + (size_t)k : sizeof(b->s) - 1;
}

static void columns(vg__sql_t *q, const char *const *cols, int n)
{
    for (int i = 0; i < n; i++)
        put(q, "%s%s", i ? ", " : "", cols[i]);
}

void vg__sql_select(vg__sql_t *q, char mark, const char *table, const char *const *cols,
                    int ncols, bool is_by_id, size_t offset, size_t limit)
{
    *q = (vg__sql_t){0};
    put(q, "SELECT ");
    columns(q, cols, ncols);
    put(q, " FROM %s", table);
    if (is_by_id)
        put(q, " WHERE id = %c1", mark);
    put(q, " ORDER BY id LIMIT %zu OFFSET %zu", limit, offset);
}

void vg__sql_count(vg__sql_t *q, char mark, const char *table, const char *column)
{
    *q = (vg__sql_t){0};
    put(q, "SELECT count(*) FROM %s", table);
    if (column)
        put(q, " WHERE %s = %c1", column, mark);
}

void vg__sql_insert(vg__sql_t *q, char mark, const char *table, const char *const *cols, int n)
{
    *q = (vg__sql_t){0};
    put(q, "INSERT INTO %s (", table);
    columns(q, cols, n);
    put(q, ") VALUES (");
    for (int i = 0; i < n; i++)
        put(q, "%s%c%d", i ? ", " : "", mark, i + 1);
    put(q, ")");
}

void vg__sql_update(vg__sql_t *q, char mark, const char *table, const char *const *cols, int n)
{
    *q = (vg__sql_t){0};
    put(q, "UPDATE %s SET ", table);
    for (int i = 0; i < n; i++)
        put(q, "%s%s = %c%d", i ? ", " : "", cols[i], mark, i + 1);
    put(q, " WHERE id = %c%d", mark, n + 1);
}

void vg__sql_delete(vg__sql_t *q, char mark, const char *table)
{
    *q = (vg__sql_t){0};
    put(q, "DELETE FROM %s WHERE id = %c1", table, mark);
}
