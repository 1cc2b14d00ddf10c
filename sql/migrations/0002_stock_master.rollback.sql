DROP TABLE stock_master_updates;
DROP TABLE stock_master;
