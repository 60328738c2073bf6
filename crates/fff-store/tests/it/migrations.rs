use fff_store::{MIGRATOR, Store};

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let db = fff_testkit::test_database().await.unwrap();
    let store = Store::connect(db.url(), 2).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

/// Several services start at once against an empty database: all must succeed, and the schema
/// must be applied exactly once (sqlx serialises them with pg_advisory_lock).
#[tokio::test]
async fn concurrent_migrations_all_succeed() {
    let db = fff_testkit::test_database().await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = db.url().to_owned();
        tasks.push(tokio::spawn(async move {
            // Separate pools, as separate processes would have.
            let store = Store::connect(&url, 1).await?;
            store.migrate().await?;
            store.close().await;
            Ok::<(), fff_store::StoreError>(())
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let store = Store::connect(db.url(), 1).await.unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(applied, MIGRATOR.iter().count() as i64);
}

#[tokio::test]
async fn every_table_has_timestamps() {
    let (_db, store) = super::helpers::migrated_store().await;
    let missing: Vec<String> = sqlx::query_scalar(
        "SELECT t.table_name::text FROM information_schema.tables t \
         WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE' \
           AND t.table_name <> '_sqlx_migrations' \
           AND (SELECT count(*) FROM information_schema.columns c \
                WHERE c.table_schema = 'public' AND c.table_name = t.table_name \
                  AND c.column_name IN ('created_at', 'updated_at') \
                  AND c.data_type = 'timestamp with time zone') <> 2",
    )
    .fetch_all(store.pool())
    .await
    .unwrap();
    assert!(
        missing.is_empty(),
        "tables without created_at/updated_at: {missing:?}"
    );
}
