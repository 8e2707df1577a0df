"""The configuration keys Apache RocketMQ knows, by the Java field names its
``MixAll#properties2Object`` matches (``brokerIP1``, ``useTLS``, ``dLegerGroup``...).

Facts read from the Java classes at tags ``rocketmq-all-4.9.4`` and ``rocketmq-all-5.3.1``
(the union of both): ``BrokerConfig``, ``MessageStoreConfig``, ``NettyServerConfig``,
``NettyClientConfig``, ``NamesrvConfig`` and ``ControllerConfig``. rocketq uses them to tell
a key it has not implemented yet ("accepted, not implemented", reported at start) from a
key no RocketMQ has (a typo, reported as unknown).
"""

from __future__ import annotations

__all__ = [
    "BROKER_CONFIG_KEYS",
    "CONTROLLER_CONFIG_KEYS",
    "NAMESRV_CONFIG_KEYS",
    "NETTY_CONFIG_KEYS",
    "STORE_CONFIG_KEYS",
]


# BrokerConfig.
BROKER_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "accountStatsEnable", "accountStatsPrintZeroValues", "ackMessageThreadPoolNums",
        "ackThreadPoolQueueCapacity", "aclEnable", "adminBrokerThreadPoolNums",
        "adminBrokerThreadPoolQueueCapacity", "asyncSendEnable", "autoCreateSubscriptionGroup",
        "autoCreateTopicEnable", "autoDeleteUnusedStats", "broadcastOffsetExpireMaxSecond",
        "broadcastOffsetExpireSecond", "brokerClusterName", "brokerConfigPath",
        "brokerElectionPriority", "brokerFastFailureEnable", "brokerHeartbeatInterval",
        "brokerIP1", "brokerIP2", "brokerId", "brokerName", "brokerNotActiveTimeoutMillis",
        "brokerPermission", "brokerTopicEnable", "cgColdReadThreshold", "channelExpiredTimeout",
        "checkSyncStateSetPeriod", "cleanOfflineBrokerInterval", "clientManageThreadPoolNums",
        "clientManagerThreadPoolQueueCapacity", "clusterTopicEnable", "coldCtrStrategyEnable",
        "commercialBaseCount", "commercialBigCount", "commercialEnable", "commercialSizePerMsg",
        "commercialTimerCount", "commercialTransCount", "compatibleWithOldNameSrv",
        "compressedRegister", "configBlackList", "consumerFallbehindThreshold",
        "consumerManageThreadPoolNums", "consumerManagerThreadPoolQueueCapacity",
        "consumerOffsetUpdateVersionStep", "controllerAddr", "controllerHeartBeatTimeoutMills",
        "defaultMessageRequestMode", "defaultPopShareQueueNum", "defaultTopicQueueNums",
        "delayOffsetUpdateVersionStep", "disableConsumeIfConsumerReadSlowly",
        "enableBroadcastOffsetStore", "enableCalcFilterBitMap", "enableControllerMode",
        "enableDetailStat", "enableMixedMessageType", "enableNetWorkFlowControl",
        "enableNotifyAfterPopOrderLockRelease", "enablePopBatchAck", "enablePopBufferMerge",
        "enablePopLog", "enablePopMessageThreshold", "enablePropertyFilter", "enableRemoteEscape",
        "enableRetryTopicV2", "enableSingleTopicRegister", "enableSkipLongAwaitingAck",
        "enableSlaveActingMaster", "enableSplitRegistration", "endTransactionPoolQueueCapacity",
        "endTransactionThreadPoolNums", "estimateAccumulation", "expectConsumerNumUseFilter",
        "fetchControllerAddrByDnsLookup", "fetchNameSrvAddrByDnsLookup",
        "fetchNamesrvAddrByAddressServer", "fetchNamesrvAddrInterval", "filterDataCleanTimeSpan",
        "filterServerNums", "filterSupportRetry", "flushConsumerOffsetHistoryInterval",
        "flushConsumerOffsetInterval", "forceRegister", "forwardTimeout",
        "globalColdReadThreshold", "heartbeatThreadPoolNums", "heartbeatThreadPoolQueueCapacity",
        "highSpeedMode", "initPopOffsetByCheckMsgInMem", "isolateLogEnable", "listenPort",
        "litePullMessageEnable", "litePullMessageThreadPoolNums",
        "litePullThreadPoolQueueCapacity", "loadBalancePollNameServerInterval",
        "loadBalanceProcessorThreadPoolNums", "loadBalanceThreadPoolQueueCapacity",
        "lockInStrictMode", "longPollingEnable", "maxDelayTime", "maxErrorRateOfBloomFilter",
        "maxPopPollingSize", "messageStorePlugIn", "metricGrpcExporterIntervalInMills",
        "metricGrpcExporterTimeOutInMills", "metricLoggingExporterIntervalInMills",
        "metricsExporterType", "metricsGrpcExporterHeader", "metricsGrpcExporterTarget",
        "metricsInDelta", "metricsLabel", "metricsOtelCardinalityLimit", "metricsPromExporterHost",
        "metricsPromExporterPort", "msgTraceTopicName", "namesrvAddr",
        "notifyConsumerIdsChangedEnable", "popCkMaxBufferSize", "popCkOffsetMaxQueueSize",
        "popCkStayBufferTime", "popCkStayBufferTimeOut", "popFromRetryProbability",
        "popInflightMessageThreshold", "popPollingMapSize", "popPollingSize",
        "popResponseReturnActualRetryTopic", "processReplyMessageThreadPoolNums",
        "pullMessageThreadPoolNums", "pullThreadPoolQueueCapacity",
        "putMessageFutureThreadPoolNums", "putThreadPoolQueueCapacity",
        "queryMessageThreadPoolNums", "queryThreadPoolQueueCapacity",
        "realTimeNotifyConsumerChange", "recoverConcurrently", "recoverThreadPoolNums", "regionId",
        "registerBrokerTimeoutMills", "registerNameServerPeriod", "rejectPullConsumerEnable",
        "rejectTransactionMessage", "replyThreadPoolQueueCapacity",
        "retrieveMessageFromPopRetryTopicV1", "reviveAckWaitMs", "reviveInterval", "reviveMaxSlow",
        "reviveQueueNum", "reviveScanTime", "rocketmqHome", "sendHeartbeatTimeoutMillis",
        "sendMessageThreadPoolNums", "sendThreadPoolQueueCapacity", "serverLoadBalancerEnable",
        "shortPollingTimeMills", "skipPreOnline", "skipWhenCKRePutReachMaxTimes",
        "slaveReadEnable", "splitRegistrationSize", "startAcceptSendRequestTimeStamp",
        "storeReplyMessageEnable", "subscriptionExpiredTimeout", "syncBrokerMemberGroupPeriod",
        "syncBrokerMetadataPeriod", "syncControllerMetadataPeriod", "traceOn", "traceTopicEnable",
        "transactionCheckInterval", "transactionCheckMax", "transactionMetricFlushInterval",
        "transactionOpBatchInterval", "transactionOpMsgMaxSize", "transactionTimeOut",
        "transferMsgByHeap", "updateNameServerAddrPeriod", "usePIDColdCtrStrategy",
        "useServerSideResetOffset", "useStaticSubscription", "validateSystemTopicWhenUpdateTopic",
        "waitTimeMillsInAckQueue", "waitTimeMillsInAdminBrokerQueue",
        "waitTimeMillsInHeartbeatQueue", "waitTimeMillsInLitePullQueue",
        "waitTimeMillsInPullQueue", "waitTimeMillsInSendQueue", "waitTimeMillsInTransactionQueue",
    }
)

# MessageStoreConfig.
STORE_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "accessMessageInMemoryHotRatio", "accessMessageInMemoryMaxRatio", "allAckInSyncStateSet",
        "asyncLearner", "autoMessageVersionOnTopicLen", "batchDispatchRequestThreadPoolNums",
        "batchWriteKvCqSize", "bitMapLengthConsumeQueueExt", "brokerRole", "checkCRCOnRecover",
        "cleanFileForciblyEnable", "cleanResourceInterval", "cleanRocksDBDirtyCQIntervalMin",
        "cleanSwapedMapInterval", "coldDataFlowControlEnable", "coldDataScanEnable",
        "commitCommitLogLeastPages", "commitCommitLogThoroughInterval", "commitIntervalCommitLog",
        "commitLogForceSwapMapInterval", "commitLogSwapMapInterval",
        "commitLogSwapMapReserveFileNum", "compactionCqMappedFileSize", "compactionMappedFileSize",
        "compactionScheduleInternal", "compactionThreadNum", "correctLogicMinOffsetForceInterval",
        "correctLogicMinOffsetSleepInterval", "dLegerGroup", "dLegerPeers", "dLegerSelfId",
        "dataReadAheadEnable", "debugLockEnable", "defaultQueryMaxNum",
        "deleteCommitLogFilesInterval", "deleteConsumeQueueFilesInterval", "deleteFileBatchMax",
        "deleteWhen", "destroyMapedFileIntervalForcibly", "disappearTimeAfterStart",
        "diskFallRecorded", "diskMaxUsedSpaceRatio", "diskSpaceCleanForciblyRatio",
        "diskSpaceWarningLevelRatio", "dispatchCqCacheNum", "dispatchCqThreads",
        "dispatchFromSenderThread", "duplicationEnable", "enableAsyncReput",
        "enableAutoInSyncReplicas", "enableBatchPush", "enableBuildConsumeQueueConcurrently",
        "enableCleanExpiredOffset", "enableCompaction", "enableConsumeQueueExt",
        "enableDLegerCommitLog", "enableLmq", "enableMultiDispatch", "enableRocksDBLog",
        "enableScheduleAsyncDeliver", "enableScheduleMessageStats", "enabledAppendPropCRC",
        "fastFailIfNoBufferInStorePool", "fileReservedTime", "flushCommitLogLeastPages",
        "flushCommitLogThoroughInterval", "flushCommitLogTimed", "flushConsumeQueueLeastPages",
        "flushConsumeQueueThoroughInterval", "flushDelayOffsetInterval", "flushDiskType",
        "flushIntervalCommitLog", "flushIntervalConsumeQueue", "flushLeastPagesWhenWarmMapedFile",
        "forceVerifyPropCRC", "haFlowControlEnable", "haHousekeepingInterval", "haListenPort",
        "haMasterAddress", "haMaxGapNotInSync", "haMaxTimeSlaveNotCatchup",
        "haSendHeartbeatInterval", "haSlaveFallbehindMax", "haTransferBatchSize", "inSyncReplicas",
        "isEnableBatchPush", "logicQueueForceSwapMapInterval", "logicQueueSwapMapInterval",
        "logicQueueSwapMapReserveFileNum", "logicalDiskSpaceCleanForciblyThreshold",
        "mappedFileSizeCommitLog", "mappedFileSizeConsumeQueue", "mappedFileSizeConsumeQueueExt",
        "mappedFileSizeTimerLog", "mappedFileSwapEnable", "mapperFileSizeBatchConsumeQueue",
        "maxAsyncPutMessageRequests", "maxBatchDeleteFilesNum", "maxChecksumRange",
        "maxConsumeQueueScan", "maxFilterMessageSize", "maxHaTransferByteInSecond",
        "maxHashSlotNum", "maxIndexNum", "maxLmqConsumeQueueNum", "maxMessageSize",
        "maxMsgsNumBatch", "maxOffsetMapSize", "maxRecoveryCommitlogFiles", "maxSlaveResendLength",
        "maxTopicLength", "maxTransferBytesOnMessageInDisk", "maxTransferBytesOnMessageInMemory",
        "maxTransferCountOnMessageInDisk", "maxTransferCountOnMessageInMemory",
        "memTableFlushIntervalMs", "messageDelayLevel", "messageIndexEnable", "messageIndexSafe",
        "minInSyncReplicas", "offsetCheckInSlave", "osPageCacheBusyTimeOutMills",
        "preferredLeaderId", "pullBatchMaxMessageCount", "putConsumeQueueDataByFileChannel",
        "putMessageTimeout", "putMsgIndexHightWater", "readOnlyCommitLogStorePaths",
        "readUnCommitted", "realTimePersistRocksDBConfig", "recheckReputOffsetFromCq",
        "redeleteHangedFileInterval", "replicasPerDiskPartition", "rocksdbCQDoubleWriteEnable",
        "sampleCountThreshold", "sampleSteps", "scheduleAsyncDeliverMaxPendingLimit",
        "scheduleAsyncDeliverMaxResendNum2Blocked", "searchBcqByCacheEnable", "slaveTimeout",
        "statRocksDBCQIntervalSec", "storePathBrokerIdentity", "storePathCommitLog",
        "storePathDLedgerCommitLog", "storePathEpochFile", "storePathRootDir", "storeType",
        "syncFlushTimeout", "syncFromLastFile", "syncMasterFlushOffsetWhenStartup",
        "timerCheckMetricsWhen", "timerColdDataCheckIntervalMs", "timerCongestNumEachSlot",
        "timerEnableCheckMetrics", "timerEnableDisruptor", "timerFlushIntervalMs",
        "timerGetMessageThreadNum", "timerInterceptDelayLevel", "timerMaxDelaySec",
        "timerMetricSmallThreshold", "timerPrecisionMs", "timerProgressLogIntervalMs",
        "timerPutMessageThreadNum", "timerRollWindowSlot", "timerSkipUnknownError",
        "timerStopDequeue", "timerStopEnqueue", "timerWarmEnable", "timerWheelEnable",
        "topicQueueLockNum", "totalReplicas", "transferMetadataJsonToRocksdb",
        "transferOffsetJsonToRocksdb", "transientStorePoolEnable", "transientStorePoolSize",
        "travelCqFileNumWhenGetMessage", "useReentrantLockWhenPutMessage",
        "wakeCommitWhenPutMessage", "wakeFlushWhenPutMessage", "warmMapedFileEnable",
    }
)

# NettyServerConfig and NettyClientConfig (a broker.conf and a namesrv.conf may set both).
NETTY_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "bindAddress", "channelNotActiveInterval", "clientAsyncSemaphoreValue",
        "clientCallbackExecutorThreads", "clientChannelMaxIdleTimeSeconds",
        "clientCloseSocketIfTimeout", "clientOnewaySemaphoreValue",
        "clientPooledByteBufAllocatorEnable", "clientSocketRcvBufSize", "clientSocketSndBufSize",
        "clientWorkerThreads", "connectTimeoutMillis", "disableCallbackExecutor",
        "disableNettyWorkerGroup", "enableReconnectForGoAway", "enableShutdownGracefully",
        "enableTransparentRetry", "isScanAvailableNameSrv", "listenPort",
        "maxReconnectIntervalTimeSeconds", "serverAsyncSemaphoreValue",
        "serverCallbackExecutorThreads", "serverChannelMaxIdleTimeSeconds",
        "serverNettyWorkerGroupEnable", "serverOnewaySemaphoreValue",
        "serverPooledByteBufAllocatorEnable", "serverSelectorThreads", "serverSocketBacklog",
        "serverSocketRcvBufSize", "serverSocketSndBufSize", "serverWorkerThreads",
        "shutdownWaitTimeSeconds", "socksProxyConfig", "useEpollNativeSelector", "useTLS",
        "writeBufferHighWaterMark", "writeBufferLowWaterMark",
    }
)

# NamesrvConfig.
NAMESRV_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "clientRequestThreadPoolNums", "clientRequestThreadPoolQueueCapacity", "clusterTest",
        "configBlackList", "configStorePath", "defaultThreadPoolNums",
        "defaultThreadPoolQueueCapacity", "deleteTopicWithBrokerRegistration",
        "enableAllTopicList", "enableControllerInNamesrv", "enableTopicList", "kvConfigPath",
        "needWaitForService", "notifyMinBrokerIdChanged", "orderMessageEnable", "productEnvName",
        "returnOrderTopicConfigToBroker", "rocketmqHome", "scanNotActiveBrokerInterval",
        "supportActingMaster", "unRegisterBrokerQueueCapacity", "waitSecondsForService",
    }
)

# ControllerConfig (the 5.x controller, alone or inside the NameServer).
CONTROLLER_CONFIG_KEYS: frozenset[str] = frozenset(
    {
        "configBlackList", "configStorePath", "controllerDLegerGroup", "controllerDLegerPeers",
        "controllerDLegerSelfId", "controllerRequestThreadPoolQueueCapacity",
        "controllerStorePath", "controllerThreadPoolNums", "controllerType",
        "electMasterMaxRetryCount", "enableElectUncleanMaster", "isProcessReadEvent",
        "jraftConfig", "mappedFileSize", "metricGrpcExporterIntervalInMills",
        "metricGrpcExporterTimeOutInMills", "metricLoggingExporterIntervalInMills",
        "metricsExporterType", "metricsGrpcExporterHeader", "metricsGrpcExporterTarget",
        "metricsInDelta", "metricsLabel", "metricsPromExporterHost", "metricsPromExporterPort",
        "notifyBrokerRoleChanged", "rocketmqHome", "scanInactiveMasterInterval",
        "scanNotActiveBrokerInterval",
    }
)
