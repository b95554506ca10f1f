import { createApp } from 'vue'
import { createPinia } from 'pinia'
import 'element-plus/theme-chalk/dark/css-vars.css'
import 'element-plus/theme-chalk/el-message.css'
import 'element-plus/theme-chalk/el-message-box.css'
import 'element-plus/theme-chalk/el-button.css'
import 'element-plus/theme-chalk/el-input.css'
import 'element-plus/theme-chalk/el-overlay.css'
import './style.css'
import App from './App.vue'
import { detectLocale, LOCALE_KEY, makeI18n } from './i18n'
import { makeRouter } from './router'
import { useAuthStore } from './stores/auth'
import { useUiStore } from './stores/ui'
import { vPerm } from './directives'

const app = createApp(App)
app.use(createPinia())
const locale = detectLocale(localStorage.getItem(LOCALE_KEY), navigator.languages ?? [navigator.language])
const i18n = makeI18n(locale)
app.use(i18n)
useUiStore().setLocale(locale, false)
useAuthStore().resume()
app.use(makeRouter())
app.directive('perm', vPerm)
app.mount('#app')
