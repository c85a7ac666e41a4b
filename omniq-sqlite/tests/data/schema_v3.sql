-- A database written by omniq-sqlite with schema version 3 (the version before delivery
-- counts; sqlite3 .dump): 'done' completed (its result, without a delivery, and event),
-- 'crashed' claimed twice (one nack) and its last lease run out in 2020, 'retried' pending
-- after a failure, 'dead' a dead letter, 'waiting' never claimed. No time here can run out.
CREATE TABLE omniq_events (
	id VARCHAR NOT NULL, 
	task_id VARCHAR NOT NULL, 
	event_type VARCHAR NOT NULL, 
	queue VARCHAR, 
	ts BIGINT NOT NULL, 
	worker_id VARCHAR, 
	attempt INTEGER, 
	details TEXT, 
	PRIMARY KEY (id)
)
 WITHOUT ROWID

;
INSERT INTO "omniq_events" VALUES('01M8SRX4DW05W9M1GFRM7TXSCS','done','completed','default',1796161311164809,'w-old',1,NULL);
CREATE TABLE omniq_results (
	task_id VARCHAR NOT NULL, 
	data BLOB NOT NULL, 
	expires_at BIGINT, 
	PRIMARY KEY (task_id)
)
 WITHOUT ROWID

;
INSERT INTO "omniq_results" VALUES('done',X'7B227461736B5F6964223A22646F6E65222C22737461747573223A2273756363657373222C227061796C6F6164223A224D673D3D222C2273657269616C697A6572223A226A736F6E222C226572726F72223A6E756C6C2C22636F6D706C657465645F6174223A22323032362D31322D30315432313A34313A35312E3136323739362B30303A3030222C22657870697265735F6174223A6E756C6C2C22617474656D7074223A312C22776F726B65725F6964223A22772D6F6C64227D',NULL);
CREATE TABLE omniq_schema (role VARCHAR PRIMARY KEY, version INTEGER NOT NULL);
INSERT INTO "omniq_schema" VALUES('task_queue',3);
INSERT INTO "omniq_schema" VALUES('result_storage',3);
INSERT INTO "omniq_schema" VALUES('event_storage',3);
CREATE TABLE omniq_tasks (
	id VARCHAR NOT NULL, 
	queue VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	priority INTEGER NOT NULL, 
	eta BIGINT NOT NULL, 
	enqueued_at BIGINT NOT NULL, 
	func TEXT NOT NULL, 
	payload BLOB NOT NULL, 
	serializer VARCHAR NOT NULL, 
	max_retries INTEGER NOT NULL, 
	retry_backoff FLOAT NOT NULL, 
	timeout FLOAT, 
	result_ttl FLOAT, 
	headers TEXT, 
	attempt INTEGER NOT NULL, 
	token VARCHAR, 
	lease_expires BIGINT, 
	worker_id VARCHAR, 
	last_error TEXT, 
	cancel_requested INTEGER NOT NULL, 
	finished_at BIGINT, 
	PRIMARY KEY (id)
)
 WITHOUT ROWID

;
INSERT INTO "omniq_tasks" VALUES('crashed','default','active',8,1796161311165086,1796161311161652,'app.tasks:work',X'5B5B315D2C7B7D5D','json',3,1.0,NULL,NULL,NULL,2,'0f98b6d0ca879ae1820d2559',1577836800000000,'w-old',NULL,0,NULL);
INSERT INTO "omniq_tasks" VALUES('dead','default','dead',6,1796161311161675,1796161311161675,'app.tasks:work',X'5B5B315D2C7B7D5D','json',0,1.0,NULL,NULL,NULL,1,NULL,NULL,NULL,'bad input',0,1796161311165300);
INSERT INTO "omniq_tasks" VALUES('retried','default','pending',7,1796161311165227,1796161311161664,'app.tasks:work',X'5B5B315D2C7B7D5D','json',3,1.0,NULL,NULL,NULL,1,NULL,NULL,NULL,'boom',0,NULL);
INSERT INTO "omniq_tasks" VALUES('waiting','default','pending',0,1796161311161688,1796161311161688,'app.tasks:work',X'5B5B315D2C7B7D5D','json',0,1.0,NULL,NULL,NULL,0,NULL,NULL,NULL,NULL,0,NULL);
CREATE INDEX omniq_tasks_ready ON omniq_tasks (queue, priority DESC, eta, id) WHERE state = 'pending';
CREATE INDEX omniq_tasks_leased ON omniq_tasks (lease_expires) WHERE state = 'active';
CREATE INDEX omniq_results_expiry ON omniq_results (expires_at);
CREATE INDEX omniq_events_type ON omniq_events (event_type, ts);
CREATE INDEX omniq_events_time ON omniq_events (ts, id);
CREATE INDEX omniq_events_task ON omniq_events (task_id, ts, id);
