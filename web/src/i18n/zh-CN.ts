// 简体中文消息，键与 en.ts 相同（单元测试会检查）。
export default {
  app: { name: 'Plugboard', console: '管理控制台' },
  common: {
    search: '搜索', create: '新建', edit: '编辑', save: '保存', cancel: '取消', confirm: '确定', close: '关闭',
    delete: '删除', refresh: '刷新', actions: '操作', yes: '是', no: '否', all: '全部', name: '名称',
    status: '状态', active: '启用', inactive: '已停用', createdAt: '创建时间', updatedAt: '更新时间', loadMore: '加载更多',
    empty: '暂无数据', never: '从未', copy: '复制', copied: '已复制', deactivate: '停用', activate: '启用',
    saved: '已保存', invalidJSON: '不是合法的 JSON：{msg}', tenant: '租户', details: '详情', none: '无', back: '返回',
    live: '实时', reconnecting: '正在重连…', unavailable: '此服务器暂不支持',
  },
  nav: {
    dashboard: '仪表盘', services: '服务', tenants: '租户', users: '用户', keys: 'API 密钥',
    config: '配置中心', audit: '审计日志', profile: '个人资料',
  },
  header: {
    language: '语言', dark: '深色模式', light: '浅色模式', logout: '退出登录', password: '修改密码',
    menu: '菜单', profile: '个人资料',
  },
  login: {
    title: '登录 Plugboard', tenant: '租户', tenantHint: '留空：默认租户', username: '用户名',
    password: '密码', submit: '登录', expired: '登录已失效，请重新登录后继续。',
  },
  password: {
    title: '修改密码', current: '当前密码', new: '新密码', repeat: '再次输入新密码',
    mismatch: '两次输入的密码不一致', length: '8 到 72 个字符', changed: '密码已修改，请用新密码重新登录',
  },
  forbidden: {
    title: '无权访问', text: '此页面需要 {perm} 权限，{role} 角色拥有该权限。你当前以 {user}（{roles}）登录。',
    home: '返回仪表盘', ask: '请联系所在租户的管理员为你分配该角色。',
  },
  notFound: { title: '页面不存在', home: '返回仪表盘' },
  roles: { super_admin: '超级管理员', tenant_admin: '租户管理员', user: '普通用户' },
  health: { healthy: '健康', unhealthy: '不健康', unknown: '未知', partial: '部分异常', down: '全部异常' },
  dashboard: {
    services: '服务数', instances: '健康 / 全部实例', tenants: '租户数', users: '用户数', keys: 'API 密钥数',
    traffic: '网关流量（最近一小时）', rps: '每秒请求数', errorRate: '错误率', p50: 'p50', p99: 'p99',
    topServices: '流量最高的服务', requests: '请求数', events: '注册中心事件', noEvents: '打开本页以来没有变化。',
    noTraffic: '最近一小时没有经过网关的请求。', scopeLocal: '仅本网关', scopeCluster: '全部网关',
  },
  services: {
    search: '按名称搜索', tag: '标签', version: '版本', instances: '实例数', healthy: '健康', versions: '版本',
    tags: '标签', lastHeartbeat: '最近心跳', health: '健康状态', enabled: '本租户已启用', empty: '还没有注册的服务。启动一个插件，一秒内就会出现在这里。',
    noMatch: '没有符合筛选条件的服务。', detail: '服务 {name}', instance: '实例', address: '地址',
    endpoints: '接口', method: '方法', path: '路径', public: '公开', requiredRoles: '所需角色', rateLimit: '限流',
    metadata: '元数据', history: '健康检查历史', noHistory: '没有记录的事件。', deregister: '注销',
    deregisterConfirm: '注销 {name} 的实例 {id}？它会立即退出路由，重新注册后恢复。',
    deregistered: '实例已注销', enabledOn: '已为本租户启用 {name}', disabledOn: '已为本租户停用 {name}',
    anyRole: '任何已登录的调用方',
  },
  tenants: {
    new: '新建租户', editTitle: '编辑租户 {name}', name: '名称', displayName: '显示名称', config: '配置（JSON 对象）',
    services: '已启用的服务', deactivateConfirm: '停用租户 {name}？其用户将无法登录。', empty: '还没有租户。',
    mustBeObject: '配置必须是 JSON 对象',
  },
  users: {
    new: '新建用户', role: '角色', email: '邮箱', lastLogin: '最近登录', editRole: '修改角色', resetPassword: '重置密码',
    resetTitle: '重置 {name} 的密码', resetDone: '密码已重置，该用户的会话已结束。', deactivateConfirm: '停用 {name}？其会话会立即结束。',
    empty: '此租户还没有用户。', username: '用户名', password: '密码',
  },
  keys: {
    new: '新建 API 密钥', name: '名称', scopes: '权限范围', scopesHint: '例如 core:admin、orders:read', expires: '过期时间',
    prefix: '前缀', lastUsed: '最近使用', revoke: '吊销', revoked: '已吊销', expired: '已过期', tenantKey: '租户密钥（不属于任何用户，供机器使用）',
    revokeConfirm: '吊销密钥 {name}？此后使用它的客户端都会被拒绝。', empty: '还没有 API 密钥。可以为脚本和 CI 创建一个。',
    secretTitle: '新的 API 密钥', secretText: '密钥只显示这一次。请现在保存到密码管理器或 CI 的密钥设置中。',
    saved: '我已保存', done: '完成', neverExpires: '永不过期',
  },
  config: {
    scope: '作用域', global: '全局', tenantScope: '租户', service: '服务', key: '配置项', value: '值', version: '版本',
    author: '操作人', comment: '备注', newEntry: '新建配置', edit: '编辑', history: '历史版本', preview: '查看变更',
    publish: '发布', diffTitle: '确认 {entry} 的变更', old: '当前（v{v}）', new: '你的修改', noChange: '值没有变化。',
    published: '已发布版本 {v}', rollback: '回滚到此版本', rollbackConfirm: '把版本 {v} 的值作为新版本重新写入？',
    rolledBack: '已回滚：写入了版本 {v}', compare: '对比', compareTitle: 'v{a} → v{b}', pickTwo: '勾选两个版本进行对比',
    stale: '你编辑版本 {base} 期间，其他人发布了版本 {v}（{by}，{at}）。没有覆盖任何内容。请在下方对比对方的版本与你的修改，然后基于新版本重新发布，或放弃你的修改。',
    reloadTheirs: '放弃我的修改', rebase: '基于 v{v} 保留我的修改', changedOnly: '只看变化的行', empty: '这里还没有配置项。',
    deleted: '已删除', liveChanged: '其他人刚刚发布了版本 {v}。', selectEntry: '请在左侧选择一个配置项，或新建一个。',
    readOnly: '只读：你无权修改此作用域。', allServices: '全部服务', keyHint: '例如 db/pool',
  },
  audit: {
    actor: '操作人', action: '操作', target: '对象', time: '时间', from: '开始', to: '结束', remote: '来源地址', actorHint: '操作人（名称或 ID）', targetHint: '对象（类型或 类型/ID）',
    empty: '没有符合条件的审计记录。', diff: '变更前 / 变更后', requestId: '请求 ID', openDiff: '查看变更',
  },
  profile: { title: '个人资料', tenant: '租户', roles: '角色', permissions: '权限' },
}
