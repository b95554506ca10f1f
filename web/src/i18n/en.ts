// English messages. zh-CN.ts has the same keys (a unit test checks).
export default {
  app: { name: 'Plugboard', console: 'Admin console' },
  common: {
    search: 'Search', create: 'Create', edit: 'Edit', save: 'Save', cancel: 'Cancel', confirm: 'Confirm', close: 'Close',
    delete: 'Delete', refresh: 'Refresh', actions: 'Actions', yes: 'Yes', no: 'No', all: 'All', name: 'Name',
    status: 'Status', active: 'Active', inactive: 'Inactive', createdAt: 'Created', updatedAt: 'Updated', loadMore: 'Load more',
    empty: 'Nothing here yet', never: 'Never', copy: 'Copy', copied: 'Copied', deactivate: 'Deactivate', activate: 'Activate',
    saved: 'Saved', invalidJSON: 'Not valid JSON: {msg}', tenant: 'Tenant', details: 'Details', none: 'None', back: 'Back',
    live: 'Live', reconnecting: 'Reconnecting…', unavailable: 'Not available on this server',
  },
  nav: {
    dashboard: 'Dashboard', services: 'Services', tenants: 'Tenants', users: 'Users', keys: 'API keys',
    config: 'Configuration', audit: 'Audit log', profile: 'My profile',
  },
  header: {
    language: 'Language', dark: 'Dark mode', light: 'Light mode', logout: 'Log out', password: 'Change password',
    menu: 'Menu', profile: 'Profile',
  },
  login: {
    title: 'Sign in to Plugboard', tenant: 'Tenant', tenantHint: 'empty: the default tenant', username: 'Username',
    password: 'Password', submit: 'Sign in', expired: 'Your session ended; sign in again to continue.',
  },
  password: {
    title: 'Change password', current: 'Current password', new: 'New password', repeat: 'Repeat new password',
    mismatch: 'The passwords differ', length: '8 to 72 characters', changed: 'Password changed: log in again with the new one',
  },
  forbidden: {
    title: 'No access', text: 'This page needs the {perm} permission, which the {role} role has. You are signed in as {user} ({roles}).',
    home: 'Go to the dashboard', ask: 'Ask an administrator of your tenant to give you that role.',
  },
  notFound: { title: 'Page not found', home: 'Go to the dashboard' },
  roles: { super_admin: 'Super admin', tenant_admin: 'Tenant admin', user: 'User' },
  health: { healthy: 'Healthy', unhealthy: 'Unhealthy', unknown: 'Unknown', partial: 'Degraded', down: 'Down' },
  dashboard: {
    services: 'Services', instances: 'Healthy / total instances', tenants: 'Tenants', users: 'Users', keys: 'API keys',
    traffic: 'Gateway traffic, last hour', rps: 'Requests/s', errorRate: 'Error rate', p50: 'p50', p99: 'p99',
    topServices: 'Top services', requests: 'Requests', events: 'Registry events', noEvents: 'No changes since you opened this page.',
    noTraffic: 'No requests through the gateway in the last hour.', scopeLocal: 'this gateway only', scopeCluster: 'all gateways',
  },
  services: {
    search: 'Search by name', tag: 'Tag', version: 'Version', instances: 'Instances', healthy: 'Healthy', versions: 'Versions',
    tags: 'Tags', lastHeartbeat: 'Last heartbeat', health: 'Health', enabled: 'Enabled for my tenant', empty: 'No services are registered yet. Start a plugin and it shows up here within a second.',
    noMatch: 'No service matches these filters.', detail: 'Service {name}', instance: 'Instance', address: 'Address',
    endpoints: 'Endpoints', method: 'Method', path: 'Path', public: 'Public', requiredRoles: 'Roles', rateLimit: 'Rate limit',
    metadata: 'Metadata', history: 'Health history', noHistory: 'No recorded events.', deregister: 'Deregister',
    deregisterConfirm: 'Deregister instance {id} of {name}? It leaves the routing at once; it comes back when it registers again.',
    deregistered: 'Instance deregistered', enabledOn: 'Enabled {name} for your tenant', disabledOn: 'Disabled {name} for your tenant',
    anyRole: 'any signed-in caller',
  },
  tenants: {
    new: 'New tenant', editTitle: 'Edit tenant {name}', name: 'Name', displayName: 'Display name', config: 'Configuration (JSON object)',
    services: 'Enabled services', deactivateConfirm: 'Deactivate tenant {name}? Its users can no longer sign in.', empty: 'No tenants yet.',
    mustBeObject: 'The configuration must be a JSON object',
  },
  users: {
    new: 'New user', role: 'Role', email: 'Email', lastLogin: 'Last login', editRole: 'Change role', resetPassword: 'Reset password',
    resetTitle: 'Reset the password of {name}', resetDone: 'Password reset; their sessions ended.', deactivateConfirm: 'Deactivate {name}? Their sessions end at once.',
    empty: 'No users in this tenant yet.', username: 'Username', password: 'Password',
  },
  keys: {
    new: 'New API key', name: 'Name', scopes: 'Scopes', scopesHint: 'e.g. core:admin, orders:read', expires: 'Expires',
    prefix: 'Prefix', lastUsed: 'Last used', revoke: 'Revoke', revoked: 'Revoked', expired: 'Expired', tenantKey: 'Tenant key (no user, for machines)',
    revokeConfirm: 'Revoke key {name}? Every client using it is refused from now on.', empty: 'No API keys yet. Create one for scripts and CI.',
    secretTitle: 'Your new API key', secretText: 'This is the only time the secret is shown. Store it now, in a password manager or your CI secrets.',
    saved: 'I have saved it', done: 'Done', neverExpires: 'Never',
  },
  config: {
    scope: 'Scope', global: 'Global', tenantScope: 'Tenant', service: 'Service', key: 'Key', value: 'Value', version: 'Version',
    author: 'Operator', comment: 'Comment', newEntry: 'New entry', edit: 'Edit', history: 'History', preview: 'Review changes',
    publish: 'Publish', diffTitle: 'Review changes to {entry}', old: 'Current (v{v})', new: 'Your edit', noChange: 'The value is unchanged.',
    published: 'Published version {v}', rollback: 'Roll back to this', rollbackConfirm: 'Write the value of version {v} again, as a new version?',
    rolledBack: 'Rolled back: version {v} written', compare: 'Compare', compareTitle: 'v{a} → v{b}', pickTwo: 'Tick two versions to compare them',
    stale: 'Someone else published version {v} ({by}, {at}) while you were editing version {base}. Nothing was overwritten. Compare their version with yours below, then publish again on top of it or discard your edit.',
    reloadTheirs: 'Discard my edit', rebase: 'Keep my edit on top of v{v}', changedOnly: 'Changed lines only', empty: 'No configuration entries here yet.',
    deleted: 'deleted', liveChanged: 'Version {v} was just published by someone else.', selectEntry: 'Pick an entry on the left, or create one.',
    readOnly: 'Read only: you may not change this scope.', allServices: 'All services', keyHint: 'e.g. db/pool',
  },
  audit: {
    actor: 'Actor', action: 'Action', target: 'Target', time: 'Time', from: 'From', to: 'To', remote: 'From address', actorHint: 'Actor (name or id)', targetHint: 'Target (type or type/id)',
    empty: 'No audit entries match.', diff: 'Before / after', requestId: 'Request id', openDiff: 'Show the change',
  },
  profile: { title: 'My profile', tenant: 'Tenant', roles: 'Roles', permissions: 'Permissions' },
}
